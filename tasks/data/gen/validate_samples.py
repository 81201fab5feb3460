#!/usr/bin/env python3
"""Check every sample set in tasks/data against its schema and print its size and label balance.

Exit status 1 (with one line per problem) if anything is off. Stdlib only.
"""

import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tasks/data
CS = os.path.join(HERE, "commonsense")
ABCD = ["A", "B", "C", "D"]

SCHEMAS = {
    "boolq/validation.jsonl": {"question": str, "answer": bool, "passage": str},
    "piqa/validation.jsonl": {"goal": str, "sol1": str, "sol2": str, "label": int},
    "siqa/validation.jsonl": {
        "context": str,
        "question": str,
        "answerA": str,
        "answerB": str,
        "answerC": str,
        "label": str,
    },
    "hellaswag/validation.jsonl": {
        "ind": int,
        "activity_label": str,
        "ctx_a": str,
        "ctx_b": str,
        "ctx": str,
        "endings": list,
        "source_id": str,
        "split": str,
        "split_type": str,
        "label": str,
    },
    "winogrande/validation.jsonl": {"sentence": str, "option1": str, "option2": str, "answer": str},
    "arc_easy/test.jsonl": {"id": str, "question": str, "choices": dict, "answerKey": str},
    "arc_challenge/test.jsonl": {"id": str, "question": str, "choices": dict, "answerKey": str},
    "openbookqa/test.jsonl": {"id": str, "question_stem": str, "choices": dict, "answerKey": str},
}


def gold_and_choices(rel, row):
    """(gold label as a string, list of choice texts) for one row; raises AssertionError if bad."""
    if rel.startswith("boolq"):
        assert row["question"] == row["question"].lower() and not row["question"].endswith("?")
        return str(row["answer"]), None
    if rel.startswith("piqa"):
        assert row["label"] in (0, 1)
        return str(row["label"]), [row["sol1"], row["sol2"]]
    if rel.startswith("siqa"):
        assert row["label"] in ("1", "2", "3")
        return row["label"], [row["answerA"], row["answerB"], row["answerC"]]
    if rel.startswith("hellaswag"):
        assert len(row["endings"]) == 4 and all(isinstance(e, str) for e in row["endings"])
        assert row["label"] in ("0", "1", "2", "3")
        assert row["ctx"] == (f"{row['ctx_a']} {row['ctx_b']}" if row["ctx_b"] else row["ctx_a"])
        assert row["split"] == "val" and row["split_type"] == "indomain"
        return row["label"], row["endings"]
    if rel.startswith("winogrande"):
        assert row["sentence"].count("_") == 1 and row["answer"] in ("1", "2")
        return row["answer"], [row["option1"], row["option2"]]
    choices = row["choices"]
    assert choices["label"] == ABCD and len(choices["text"]) == 4
    assert all(isinstance(t, str) and t for t in choices["text"])
    assert row["answerKey"] in ABCD
    return row["answerKey"], choices["text"]


def check_jsonl(rel, problems):
    path = os.path.join(CS, rel)
    labels, longest, n = collections.Counter(), 0, 0
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                schema = SCHEMAS[rel]
                assert set(row) == set(schema), f"keys {sorted(row)}"
                for key, typ in schema.items():
                    assert type(row[key]) is typ, f"{key} is {type(row[key]).__name__}"
                gold, choices = gold_and_choices(rel, row)
            except (AssertionError, ValueError, KeyError) as e:
                problems.append(f"{rel}:{i}: {e or 'bad value'}")
                continue
            n += 1
            labels[gold] += 1
            if choices and not rel.startswith("winogrande"):
                idx = {"A": 0, "B": 1, "C": 2, "D": 3}.get(gold)
                idx = (
                    idx
                    if idx is not None
                    else int(gold) - (0 if rel[:4] in ("piqa", "hell") else 1)
                )
                lengths = [len(c) for c in choices]
                longest += lengths[idx] == max(lengths)
    extra = (
        ""
        if rel.startswith(("boolq", "winogrande"))
        else f", gold is the longest choice in {longest}"
    )
    print(f"{rel}: {n} items, labels {dict(sorted(labels.items()))}{extra}")


ANSWER_FORMATS = {
    "Please answer the following question with true or false, question: ": ["true", "false"],
    "Please choose the correct solution to the question: ": ["solution1", "solution2"],
    "Please choose the correct ending to complete the given sentence: ": [
        "ending1",
        "ending2",
        "ending3",
        "ending4",
    ],
    "Please choose the correct answer to fill in the blank to complete the given sentence: ": [
        "option1",
        "option2",
    ],
    "Please choose the correct answer to the question: ": None,
}


def check_train(problems):
    rel = "commonsense_170k/train.json"
    items = json.load(open(os.path.join(CS, rel), encoding="utf-8"))
    assert isinstance(items, list)
    answers = collections.Counter()
    for i, it in enumerate(items):
        try:
            assert set(it) == {"instruction", "input", "output", "answer"}
            assert all(isinstance(v, str) for v in it.values()) and it["input"] == ""
            assert it["output"] == f"the correct answer is {it['answer']}"
            prefix = next(p for p in ANSWER_FORMATS if it["instruction"].startswith(p))
            fmt = re.search(r"Answer format: (\S+)$", it["instruction"]).group(1).split("/")
            assert ANSWER_FORMATS[prefix] in (None, fmt), fmt
            assert it["answer"] in fmt
        except (AssertionError, StopIteration, AttributeError) as e:
            problems.append(f"{rel}[{i}]: {e or 'bad item'}")
            continue
        answers[it["answer"]] += 1
    print(f"{rel}: {len(items)} items, answers {dict(sorted(answers.items()))}")


def check_wikitext(problems):
    titles = {}
    for split in ("train", "valid", "test"):
        path = os.path.join(HERE, "wikitext2", f"wiki.{split}.raw")
        lines = open(path, encoding="utf-8").read().split("\n")
        if lines[-1] != "":
            problems.append(f"{path}: does not end with a newline")
        lines = lines[:-1]
        titles[split] = set()
        for i, line in enumerate(lines):
            if not (line.startswith(" ") and line.endswith(" ")):
                problems.append(f"{path}:{i + 1}: line must start and end with a space")
            m = re.fullmatch(r" (=(?: =)*) (.+?) \1 ", line)
            if m:
                if not (lines[i - 1] == " " and i + 1 < len(lines) and lines[i + 1] == " "):
                    problems.append(f"{path}:{i + 1}: heading not between blank lines")
                if m.group(1) == "=":
                    titles[split].add(m.group(2))
            if "[" in line or "{" in line:
                problems.append(f"{path}:{i + 1}: unexpanded template")
        print(f"wikitext2/wiki.{split}.raw: {len(titles[split])} articles, {len(lines)} lines")
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        if titles[a] & titles[b]:
            problems.append(
                f"wikitext2: {a} and {b} share titles {sorted(titles[a] & titles[b])[:3]}"
            )


def main():
    problems = []
    check_wikitext(problems)
    for rel in SCHEMAS:
        check_jsonl(rel, problems)
    check_train(problems)
    for p in problems:
        print("PROBLEM", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
