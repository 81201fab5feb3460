#!/usr/bin/env python3
"""Regenerate every sample set of tasks/data (``make sample-data``), or write them elsewhere.

    python tasks/data/gen/make_samples.py                 # rewrites tasks/data identically
    python tasks/data/gen/make_samples.py --out /tmp/s    # the same files under /tmp/s

Runs the four generators of this folder in turn (WikiText-2 sample, commonsense evaluation
sets, Commonsense-170K sample, GSM8K sample), each with the same ``--out`` data folder. The
generators use the Python standard library only and are deterministic; the files they write
are the ones committed under tasks/data (tests/test_sample_data.py checks that they match).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_commonsense_eval  # noqa: E402
import make_commonsense_train  # noqa: E402
import make_gsm8k  # noqa: E402
import make_wikitext2  # noqa: E402

GENERATORS = (make_wikitext2, make_commonsense_eval, make_commonsense_train, make_gsm8k)
DATA_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tasks/data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DATA_DIR, help="data folder to write [tasks/data]")
    args = parser.parse_args(argv)
    for generator in GENERATORS:
        generator.main(["--out", args.out])


if __name__ == "__main__":
    main()
