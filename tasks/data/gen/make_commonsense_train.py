#!/usr/bin/env python3
"""Write qbench's Commonsense-170K sample: tasks/data/commonsense/commonsense_170k/train.json.

A JSON list of ``{"instruction", "input", "output", "answer"}`` items in the format of the
Commonsense-170K training mixture of the LLM-Adapters project: one instruction template per source set,
``input`` always empty, ``output`` = ``"the correct answer is <answer>"``, ``answer`` = the answer word
(``true``/``false``, ``solution1``, ``answer3``, ``ending2``, ``option1``, ...).

Items are composed with a seeded RNG from the hand-written pools in commonsense_pools.py. None of them
repeats an evaluation item: the script refuses to write an item whose instruction contains the question
text of any item in commonsense_items.py. Deterministic:
``python tasks/data/gen/make_commonsense_train.py`` rewrites the file identically.
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import commonsense_items as evals  # noqa: E402
from commonsense_pools import (  # noqa: E402
    ACTIVITIES,
    CATEGORIES,
    FLIERS,
    NAMES,
    OBQA_FACTS,
    PIQA_TASKS,
    SCIENCE_FACTS,
    SOCIAL,
    TOOLS,
    WALKERS,
    WINO_TWINS,
)

SEED = 5
DATA_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tasks/data
TRAIN_FILE = os.path.join("commonsense", "commonsense_170k", "train.json")


def item(instruction, answer):
    return {
        "instruction": instruction,
        "input": "",
        "output": f"the correct answer is {answer}",
        "answer": answer,
    }


def boolq_item(question, value):
    return item(
        "Please answer the following question with true or false, question: "
        f"{question}?\n\nAnswer format: true/false",
        "true" if value else "false",
    )


def piqa_item(goal, sol1, sol2, label):
    return item(
        f"Please choose the correct solution to the question: {goal}\n\nSolution1: {sol1}\n\n"
        f"Solution2: {sol2}\n\nAnswer format: solution1/solution2",
        f"solution{label + 1}",
    )


def multi_item(question, choices, label):
    listed = " ".join(f"Answer{i + 1}: {c}" for i, c in enumerate(choices))
    fmt = "/".join(f"answer{i + 1}" for i in range(len(choices)))
    return item(
        f"Please choose the correct answer to the question: {question}\n\n{listed}\n\n"
        f"Answer format: {fmt}",
        f"answer{label + 1}",
    )


def hellaswag_item(activity, ctx, endings, label):
    listed = " ".join(f"Ending{i + 1}: {e}" for i, e in enumerate(endings))
    return item(
        f"Please choose the correct ending to complete the given sentence: {activity}: {ctx}"
        f"\n\n{listed}\n\nAnswer format: ending1/ending2/ending3/ending4",
        f"ending{label + 1}",
    )


def wino_item(sentence, option1, option2, answer):
    return item(
        "Please choose the correct answer to fill in the blank to complete the given sentence: "
        f"{sentence}\n\nOption1: {option1} Option2: {option2} Answer format: option1/option2",
        f"option{answer}",
    )


_DECKS = {}


def shuffled(correct, wrong, rng):
    """Put ``correct`` at a position dealt from a shuffled deck of positions, so that the gold labels
    of each answer format stay balanced; the wrong choices are shuffled too."""
    k = len(wrong) + 1
    deck = _DECKS.setdefault(k, [])
    if not deck:
        deck.extend(range(k))
        rng.shuffle(deck)
    label = deck.pop()
    choices = list(wrong)
    rng.shuffle(choices)
    choices.insert(label, correct)
    return choices, label


def make_boolq(rng):
    out = []
    members = [(x, cat) for cat, xs in CATEGORIES.items() for x in xs]
    for x, cat in rng.sample(members, 40):

        def article(w):
            return ("an " if w[0] in "aeiou" else "a ") + w

        if rng.random() < 0.5:
            out.append(boolq_item(f"is {article(x)} {article(cat)}", True))
        else:
            other = rng.choice([c for c in CATEGORIES if c != cat])
            out.append(boolq_item(f"is {article(x)} {article(other)}", False))
    for x in rng.sample(FLIERS, 6):
        out.append(boolq_item(f"can {x} fly", True))
    for x in rng.sample(WALKERS, 6):
        out.append(boolq_item(f"can {x} fly", False))
    for _ in range(12):
        a, b = rng.randint(2, 30), rng.randint(2, 30)
        true_sum = rng.random() < 0.5
        total = a + b if true_sum else a + b + rng.choice([-2, -1, 1, 2])
        out.append(boolq_item(f"is {a} plus {b} equal to {total}", true_sum))
    return out


def make_piqa(rng):
    out = []
    for goal, good, bad in PIQA_TASKS:
        sols, label = shuffled(good, [bad], rng)
        out.append(piqa_item(goal, *sols, label))
    for task, tool, wrong in TOOLS:
        goal = rng.choice([f"How do I {task}?", f"To {task},", f"{task[0].upper()}{task[1:]}."])
        sols, label = shuffled(f"Use {tool}.", [f"Use {wrong}."], rng)
        out.append(piqa_item(goal, *sols, label))
    return out


def make_siqa(rng):
    out = []
    for _ in range(2):
        for context, question, good, *bad in SOCIAL:
            name, other = rng.sample(NAMES, 2)

            def fill(s):
                return s.replace("{A}", name).replace("{B}", other)

            answers, label = shuffled(fill(good), [fill(b) for b in bad], rng)
            out.append(multi_item(f"{fill(context)} {fill(question)}", answers, label))
    return out


def make_hellaswag(rng):
    out = []
    people = [
        ("A man", "he"),
        ("A woman", "she"),
        ("A girl", "she"),
        ("A boy", "he"),
        ("An old man", "he"),
        ("A young woman", "she"),
    ]
    for _ in range(2):
        for activity, ctx, good in ACTIVITIES:
            who, pron = rng.choice(people)
            wrong = [a[2] for a in rng.sample([a for a in ACTIVITIES if a[0] != activity], 3)]
            endings, label = shuffled(good, wrong, rng)
            out.append(
                hellaswag_item(activity, f"{ctx.replace('{who}', who)} {pron}", endings, label)
            )
    return out


def make_winogrande(rng):
    out = []
    for template, first_answer, second_answer in WINO_TWINS:
        for _ in range(2):
            a, b = rng.sample(NAMES, 2)
            for trigger, answer in (first_answer, second_answer):
                sentence = template.replace("{A}", a).replace("{B}", b).replace("{T}", trigger)
                out.append(wino_item(sentence, a, b, answer))
    return out


def make_mc(rng, facts):
    out = []
    for question, good, *bad in facts:
        choices, label = shuffled(good, bad, rng)
        out.append(multi_item(question, choices, label))
    return out


def make_kinds(rng, n):
    """'Which of these is a reptile?' with one noun of that kind and three of other kinds."""
    out = []
    cats = list(CATEGORIES)
    for _ in range(n):
        cat = rng.choice(cats)
        good = rng.choice(CATEGORIES[cat])
        others = [x for c in cats if c != cat for x in CATEGORIES[c]]
        choices, label = shuffled(good, rng.sample(others, 3), rng)
        out.append(
            multi_item(
                f"Which of these is {'an' if cat[0] in 'aeiou' else 'a'} {cat}?", choices, label
            )
        )
    return out


def eval_texts():
    texts = [q for q, _, _ in evals.BOOLQ] + [g for g, _, _ in evals.PIQA]
    texts += [f"{c} {q}" for c, q, *_ in evals.SIQA] + [row[2] for row in evals.HELLASWAG]
    texts += [s for s, *_ in evals.WINOGRANDE]
    texts += [q for q, *_ in evals.ARC_EASY + evals.ARC_CHALLENGE + evals.OBQA]
    return [t.lower() for t in texts]


def build(seed=SEED):
    rng = random.Random(seed)
    _DECKS.clear()
    items = (
        make_boolq(rng)
        + make_piqa(rng)
        + make_siqa(rng)
        + make_hellaswag(rng)
        + make_winogrande(rng)
        + make_mc(rng, SCIENCE_FACTS)
        + make_kinds(rng, 20)
        + make_mc(rng, OBQA_FACTS)
    )
    seen, unique = set(), []
    for it in items:
        if it["instruction"] not in seen:
            seen.add(it["instruction"])
            unique.append(it)
    forbidden = eval_texts()
    for it in unique:
        body = it["instruction"].lower()
        for text in forbidden:
            if text in body:
                raise ValueError(f"training item repeats an evaluation item: {text!r}")
    rng.shuffle(unique)
    return unique


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DATA_DIR, help=f"data folder; writes OUT/{TRAIN_FILE}")
    args = parser.parse_args(argv)
    items = build()
    out = os.path.join(args.out, TRAIN_FILE)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        json.dump(items, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"{out}: {len(items)} items")


if __name__ == "__main__":
    main()
