#!/usr/bin/env python3
"""Write qbench's GSM8K sample: tasks/data/gsm8k/{train,test}.jsonl (2000 and 100 problems).

The problems come from the seeded generator in ``gsm8k_synth.py`` (seed 0), one JSON object
``{"question", "answer"}`` per line, as in the original GSM8K release; they are not GSM8K
problems. Stdlib only and deterministic: ``python tasks/data/gen/make_gsm8k.py`` rewrites the
two files identically.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gsm8k_synth import split_items  # noqa: E402

DATA_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tasks/data
SIZES = {"train": 2000, "test": 100}
SEED = 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DATA_DIR, help="data folder; files go to OUT/gsm8k")
    args = parser.parse_args(argv)
    out = os.path.join(args.out, "gsm8k")
    os.makedirs(out, exist_ok=True)
    for split in SIZES:
        rows = split_items(split, SIZES["train"], SIZES["test"], SEED)
        path = os.path.join(out, f"{split}.jsonl")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{path}: {len(rows)} problems")


if __name__ == "__main__":
    main()
