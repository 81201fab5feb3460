#!/usr/bin/env python3
"""Write qbench's commonsense evaluation samples: tasks/data/commonsense/<set>/<split>.jsonl.

Every item below was written by hand for qbench. Each set is written in its Hugging Face schema
(google/boolq, ybisk/piqa, allenai/social_i_qa, Rowan/hellaswag, allenai/winogrande winogrande_xl,
allenai/ai2_arc ARC-Easy / ARC-Challenge, allenai/openbookqa main). Items are given here with the
correct choice first; the script places the correct choice at a position drawn from a seeded, balanced
list of labels, so every label value is used equally often. Deterministic:
``python tasks/data/gen/make_commonsense_eval.py`` rewrites the files identically.
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from commonsense_items import (  # noqa: E402
    ARC_CHALLENGE,
    ARC_EASY,
    BOOLQ,
    HELLASWAG,
    OBQA,
    PIQA,
    SIQA,
    WINOGRANDE,
)

SEED = 11
DATA_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tasks/data


def balanced_labels(n, k, rng):
    """n labels in range(k), each used floor(n/k) or ceil(n/k) times, in seeded order."""
    labels = [i % k for i in range(n)]
    rng.shuffle(labels)
    return labels


def place(correct, wrong, label):
    choices = list(wrong)
    choices.insert(label, correct)
    return choices


def boolq(rng):
    return [{"question": q, "answer": a, "passage": p} for q, a, p in BOOLQ]


def piqa(rng):
    rows = []
    for (goal, good, bad), label in zip(PIQA, balanced_labels(len(PIQA), 2, rng), strict=False):
        sol = place(good, [bad], label)
        rows.append({"goal": goal, "sol1": sol[0], "sol2": sol[1], "label": label})
    return rows


def siqa(rng):
    rows = []
    for (context, question, good, *bad), label in zip(
        SIQA, balanced_labels(len(SIQA), 3, rng), strict=False
    ):
        a = place(good, bad, label)
        rows.append(
            {
                "context": context,
                "question": question,
                "answerA": a[0],
                "answerB": a[1],
                "answerC": a[2],
                "label": str(label + 1),
            }
        )
    return rows


def hellaswag(rng):
    rows = []
    for i, ((activity, source, ctx_a, ctx_b, good, *bad), label) in enumerate(
        zip(HELLASWAG, balanced_labels(len(HELLASWAG), 4, rng), strict=False)
    ):
        ctx = f"{ctx_a} {ctx_b}" if ctx_b else ctx_a
        rows.append(
            {
                "ind": 9000 + i,
                "activity_label": activity,
                "ctx_a": ctx_a,
                "ctx_b": ctx_b,
                "ctx": ctx,
                "endings": place(good, bad, label),
                "source_id": source,
                "split": "val",
                "split_type": "indomain",
                "label": str(label),
            }
        )
    return rows


def winogrande(rng):
    rows = []
    for sentence, option1, option2, answer in WINOGRANDE:
        rows.append(
            {"sentence": sentence, "option1": option1, "option2": option2, "answer": answer}
        )
    return rows


def arc(items, prefix, rng):
    rows = []
    for i, ((question, good, *bad), label) in enumerate(
        zip(items, balanced_labels(len(items), 4, rng), strict=False)
    ):
        rows.append(
            {
                "id": f"{prefix}_{i + 1:03d}",
                "question": question,
                "choices": {"text": place(good, bad, label), "label": ["A", "B", "C", "D"]},
                "answerKey": "ABCD"[label],
            }
        )
    return rows


def openbookqa(rng):
    rows = []
    for i, ((stem, good, *bad), label) in enumerate(
        zip(OBQA, balanced_labels(len(OBQA), 4, rng), strict=False)
    ):
        rows.append(
            {
                "id": f"qb-{i + 1:03d}",
                "question_stem": stem,
                "choices": {"text": place(good, bad, label), "label": ["A", "B", "C", "D"]},
                "answerKey": "ABCD"[label],
            }
        )
    return rows


def build(seed=SEED):
    rng = random.Random(seed)
    return {
        "boolq/validation.jsonl": boolq(rng),
        "piqa/validation.jsonl": piqa(rng),
        "siqa/validation.jsonl": siqa(rng),
        "hellaswag/validation.jsonl": hellaswag(rng),
        "winogrande/validation.jsonl": winogrande(rng),
        "arc_easy/test.jsonl": arc(ARC_EASY, "QBench_ARCE", rng),
        "arc_challenge/test.jsonl": arc(ARC_CHALLENGE, "QBench_ARCC", rng),
        "openbookqa/test.jsonl": openbookqa(rng),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DATA_DIR, help="data folder; files go to OUT/commonsense")
    args = parser.parse_args(argv)
    for rel, rows in build().items():
        path = os.path.join(args.out, "commonsense", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{path}: {len(rows)} items")


if __name__ == "__main__":
    main()
