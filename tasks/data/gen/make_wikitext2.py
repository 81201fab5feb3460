#!/usr/bin/env python3
"""Write qbench's WikiText-2 sample: tasks/data/wikitext2/wiki.{train,valid,test}.raw.

The articles are invented encyclopedic prose, produced procedurally from the templates and name pools
in ``wikigen/`` and laid out in the WikiText raw format:

* an article starts with `` = Title = ``, sections are `` = = Heading = = `` and `` = = = Sub = = = ``;
* every line starts with a space and ends with `` \\n`` (space, newline); a line holding a single space
  stands before and after every heading; the paragraphs of a section are consecutive lines;
* text is tokenized as in WikiText: ``word , word .``, ``1 @,@ 200``, ``3 @.@ 5``, ``role @-@ playing``,
  ``the town 's``, ``( text )``.

Stdlib only and deterministic: ``python tasks/data/gen/make_wikitext2.py`` rewrites the three files
identically. Every article has its own subject; test, validation and train articles never share a
title or subject. Split sizes are set in characters (about 3.9 characters per SmolLM2 token).
"""

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wikigen import all_kinds, render  # noqa: E402
from wikigen.names import Names  # noqa: E402

SEED = 2
# Characters per split; the test and validation splits are drawn first.
TARGET_CHARS = {"test": 62_000, "valid": 47_000, "train": 505_000}
DATA_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tasks/data


def layout(article):
    """Lines of one article in the WikiText raw layout (each ends with ' \\n')."""
    lines = []
    for element in article:
        if element[0] == "h":
            marks = " ".join("=" * element[1])
            lines += [" \n", f" {marks} {element[2]} {marks} \n", " \n"]
        else:
            lines.append(f" {element[1]} \n")
    return lines


def generate(seed):
    rng = random.Random(seed)
    names = Names(rng)
    kinds = all_kinds()
    splits = {}
    deck = []
    for split, target in TARGET_CHARS.items():
        lines, size = [], 0
        while size < target:
            if not deck:
                deck = list(kinds)
                rng.shuffle(deck)
            article = layout(render(deck.pop(), rng, names))
            lines += article
            size += sum(len(line) for line in article)
        splits[split] = lines
    return splits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", default=DATA_DIR, help="data folder; files go to OUT/wikitext2")
    args = parser.parse_args(argv)
    out = os.path.join(args.out, "wikitext2")
    os.makedirs(out, exist_ok=True)
    for split, lines in generate(args.seed).items():
        path = os.path.join(out, f"wiki.{split}.raw")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(lines)
        print(f"{path}: {len(lines)} lines, {sum(map(len, lines))} characters")


if __name__ == "__main__":
    main()
