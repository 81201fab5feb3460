"""Functions named by the lm-eval task YAML files next to this module.

lm-eval imports this file by its path and calls ``custom_dataset`` functions with the
TaskManager metadata (qbench's data source and item cap, see tasks/lm_eval_protocols.py) and the
task's ``dataset_kwargs``; they return the splits as ``datasets.DatasetDict``.

    >>> # custom_dataset: !function utils.gsm8k   (in qbench_gsm8k.yaml)
"""

from __future__ import annotations

import re

import datasets

from tasks import lm_eval_protocols as protocols


def _dataset(splits: dict[str, list[dict]]) -> datasets.DatasetDict:
    return datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in splits.items()})


def wikitext2(**meta) -> datasets.DatasetDict:
    return _dataset(protocols.wikitext_docs(meta))


def gsm8k(**meta) -> datasets.DatasetDict:
    return _dataset(protocols.gsm8k_docs(meta))


def commonsense(qbench_set: str, **meta) -> datasets.DatasetDict:
    return _dataset(protocols.commonsense_docs(qbench_set, meta))


def wikitext_target(doc: dict) -> str:
    return protocols.detokenize(doc["page"])


def wikitext_results(doc: dict, results: list) -> dict:
    """Per-article sums for lm-eval's weighted perplexities: words and bytes of the original."""
    (loglikelihood,) = results
    words = len(re.split(r"\s+", doc["page"]))
    size = len(doc["page"].encode("utf-8"))
    return {
        "word_perplexity": (loglikelihood, words),
        "byte_perplexity": (loglikelihood, size),
        "bits_per_byte": (loglikelihood, size),
    }
