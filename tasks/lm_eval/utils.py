"""Functions named by the lm-eval task YAML files next to this module.

lm-eval imports this file by its path and calls a task's ``custom_dataset`` function with the
TaskManager metadata (the folder of the documents handed to the adapter, see
tasks/lm_eval_protocols.py) and the task's ``dataset_kwargs``; each returns, as a
``datasets.DatasetDict``, the documents that the qbench task handed to the adapter for that YAML
task, or, when lm-eval's own command line runs the file, the documents read from the data
source named by the metadata key ``qbench_data`` (tasks/lm_eval_docs.py). A YAML file names
its function so::

    custom_dataset: !function utils.gsm8k
"""

from __future__ import annotations

import re

import datasets

from tasks import lm_eval_protocols as protocols


def _dataset(meta: dict, task: str) -> datasets.DatasetDict:
    if protocols.DOCS_KEY in meta:  # run by qbench: the documents its task handed over
        splits = protocols.handed_docs(meta, task)
    else:  # run by lm-eval's own command line: read from the named data source
        from tasks.lm_eval_docs import DATA_KEY, source_docs

        splits = source_docs(task, str(meta.get(DATA_KEY, "sample")))
    return datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in splits.items()})


def wikitext2(**meta) -> datasets.DatasetDict:
    return _dataset(meta, "qbench_wikitext2")


def gsm8k(**meta) -> datasets.DatasetDict:
    return _dataset(meta, "qbench_gsm8k")


def commonsense(qbench_set: str, **meta) -> datasets.DatasetDict:
    return _dataset(meta, f"qbench_cs_{qbench_set}")


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
