"""How the ``real`` source divides its items into fine-tuning and evaluation parts, seeded.

GSM8K's train split and Commonsense-170K are on no package index, so part of the real items
is set aside for fine-tuning and never evaluated; every part is fixed by ``SEED`` (not by the
run's seed, so every run of a sweep evaluates the same items) and recorded on each run
(:meth:`Split.record`: the rule, the sizes and the ids of the fine-tuning items):

- GSM8K: of the 1,319 test items, a seeded 319 are for fine-tuning and the other
  ``GSM8K_EVAL`` = 1,000 are evaluated, in their original order.
- Commonsense: BoolQ, PIQA, SIQA, HellaSwag and WinoGrande have only their validation splits
  here, so a seeded ``TRAIN_FRACTION`` (20%) of each is for fine-tuning and the rest is
  evaluated. ARC-Easy, ARC-Challenge and OpenBookQA are evaluated on their whole test splits
  (as LLM-Adapters' test files are) and fine-tuned on their validation splits, less any item
  whose question also stands in the test split.
- Wikipedia: whole articles, split seeded: ``HELD_OUT`` 10% test, 10% validation, the rest
  train (calibration windows come from train, as from WikiText-2's train split).

Items that share a question (:func:`question_key`: a repeated PIQA goal, a SIQA item listed
twice, a HellaSwag context with two sets of endings) always land on the same side, so no
evaluated question was seen in fine-tuning.

    >>> grouped_split(["a", "b", "a", "c"], 2, seed=0)
    ([0, 2], [1, 3])
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.real import GSM8K_FILE, WIKI_FILE, read_jsonl

SEED = 0
GSM8K_EVAL = 1000
TRAIN_FRACTION = 0.2
VALIDATION_ONLY = ("boolq", "piqa", "siqa", "hellaswag", "winogrande")
WITH_TEST = {"arc_easy": "question", "arc_challenge": "question", "openbookqa": "question_stem"}
HELD_OUT = {"test": 0.1, "validation": 0.1}


@dataclass(frozen=True)
class Split:
    """The fine-tuning rows and the evaluated rows of one set, with their ids."""

    name: str
    train: list[dict[str, Any]]
    eval: list[dict[str, Any]]
    train_ids: list[Any]
    eval_ids: list[Any]
    rule: str

    def record(self) -> dict[str, Any]:
        ids = json.dumps(self.train_ids, separators=(",", ":"))
        return {
            "rule": self.rule,
            "seed": SEED,
            "train": len(self.train),
            "eval": len(self.eval),
            "train_ids_sha256": hashlib.sha256(ids.encode()).hexdigest(),
            "train_ids": self.train_ids,
        }


def question_key(subset: str, row: dict[str, Any]) -> str:
    """The text an item asks, for grouping and overlap checks (answers and choices aside)."""
    if subset == "boolq":
        return f"{row['question']}\n{row['passage']}"
    if subset == "piqa":
        return row["goal"]
    if subset == "siqa":
        return f"{row['context']}\n{row['question']}"
    if subset == "hellaswag":
        return f"{row['activity_label']}\n{row['ctx']}"
    if subset == "winogrande":
        return row["sentence"]
    if subset in WITH_TEST:
        return row[WITH_TEST[subset]]
    if subset == "gsm8k":
        return row["question"]
    raise ValueError(f"no question key for set '{subset}'")


def grouped_split(keys: list[str], n_first: int, seed: int) -> tuple[list[int], list[int]]:
    """Indices split into (first, rest), each in the original order: distinct keys are
    shuffled with ``seed`` and taken whole, in that order, until ``first`` holds at least
    ``n_first`` items; items with the same key are never parted."""
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    order = list(groups)
    random.Random(seed).shuffle(order)
    first: list[int] = []
    for key in order:
        if len(first) >= n_first:
            break
        first += groups[key]
    chosen = set(first)
    return sorted(first), [i for i in range(len(keys)) if i not in chosen]


def gsm8k(folder: Path) -> Split:
    items = read_jsonl(folder, GSM8K_FILE)
    keys = [question_key("gsm8k", r) for r in items]
    train, rest = grouped_split(keys, len(items) - GSM8K_EVAL, SEED)
    return Split(
        "gsm8k",
        [items[i] for i in train],
        [items[i] for i in rest],
        [items[i]["id"] for i in train],
        [items[i]["id"] for i in rest],
        f"GSM8K test: seeded {len(train)} for fine-tuning, the other {len(rest)} evaluated",
    )


def commonsense(folder: Path, subset: str) -> Split:
    """The fine-tuning and evaluation rows of one commonsense set (see the module docs)."""
    if subset in VALIDATION_ONLY:
        rows = read_jsonl(folder, f"commonsense/{subset}/validation.jsonl")
        keys = [question_key(subset, r) for r in rows]
        train, rest = grouped_split(keys, int(TRAIN_FRACTION * len(rows)), SEED)
        return Split(
            subset,
            [rows[i] for i in train],
            [rows[i] for i in rest],
            [f"validation:{i}" for i in train],
            [f"validation:{i}" for i in rest],
            f"validation split: seeded {len(train)} for fine-tuning, {len(rest)} evaluated",
        )
    if subset not in WITH_TEST:
        raise ValueError(f"unknown commonsense set '{subset}'")
    test = read_jsonl(folder, f"commonsense/{subset}/test.jsonl")
    asked = {question_key(subset, r) for r in test}
    pool = read_jsonl(folder, f"commonsense/{subset}/validation.jsonl")
    train = [r for r in pool if question_key(subset, r) not in asked]
    return Split(
        subset,
        train,
        test,
        [f"validation:{r['id']}" for r in train],
        [f"test:{r['id']}" for r in test],
        f"test split evaluated ({len(test)}); fine-tuned on the validation split "
        f"({len(train)}, less {len(pool) - len(train)} whose question is in the test split)",
    )


def wikipedia(folder: Path) -> tuple[dict[str, list[dict[str, str]]], dict[str, Any]]:
    """({split: articles}, record): whole articles, seeded into test, validation and train."""
    articles = read_jsonl(folder, WIKI_FILE)
    rest = list(range(len(articles)))
    parts: dict[str, list[dict[str, str]]] = {}
    for split, fraction in HELD_OUT.items():
        keys = [articles[i]["title"] for i in rest]
        first, others = grouped_split(keys, int(fraction * len(articles)), SEED)
        parts[split] = [articles[rest[i]] for i in first]
        rest = [rest[i] for i in others]
    parts["train"] = [articles[i] for i in rest]
    titles = json.dumps([a["title"] for a in parts["test"]], separators=(",", ":"))
    record = {
        "rule": "Wikipedia lead sections split by article: seeded 10% test, 10% validation, "
        "the rest train",
        "seed": SEED,
        **{f"{k}_articles": len(v) for k, v in parts.items()},
        "test_titles_sha256": hashlib.sha256(titles.encode()).hexdigest(),
    }
    return parts, record
