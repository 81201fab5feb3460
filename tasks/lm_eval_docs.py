"""The documents of qbench's lm-eval task files when lm-eval itself loads them.

Inside ``qbench run`` the lm-eval protocols hand each YAML task in tasks/lm_eval/ the rows the
qbench task read (:mod:`tasks.lm_eval_protocols`). When lm-eval's own command line runs those
files (``--include_path tasks/lm_eval``, e.g. ``qbench-lm-eval --model qbench ...``), nothing is
handed over: each task's ``custom_dataset`` reads its rows here instead, from the data source
named by the TaskManager metadata key ``qbench_data`` (``sample`` when absent; ``hub`` or a
local directory as for ``qbench run --data``), so the two routes score the same documents.

    >>> docs = source_docs("qbench_cs_boolq", "sample", limit=2)
    >>> list(docs), len(docs["validation"]), sorted(docs["validation"][0])
    (['validation'], 2, ['choices', 'gold', 'query'])
"""

from __future__ import annotations

from suite.spec import SpecError
from tasks.base import parse_source
from tasks.lm_eval_protocols import commonsense_docs, gsm8k_docs, wikitext_docs

DATA_KEY = "qbench_data"
CS_PREFIX = "qbench_cs_"


def source_docs(task: str, data: str = "sample", limit: int = 0) -> dict[str, list[dict]]:
    """Split -> lm-eval documents of the YAML task ``task`` read from the source ``data``."""
    source = parse_source(data)
    if source.kind == "synthetic":
        raise SpecError(
            f"{DATA_KEY}={data!r} has no text for lm-eval task {task}; allowed: sample, hub, or "
            "a local directory"
        )
    if task == "qbench_wikitext2":
        from tasks.wikitext2 import read_lines

        return wikitext_docs(read_lines(source, "test"), limit)
    if task == "qbench_gsm8k":
        from tasks.gsm8k import read_items

        return gsm8k_docs(read_items(source, "test", limit), read_items(source, "train"))
    if task.startswith(CS_PREFIX):
        from tasks.commonsense import read_rows

        subset = task[len(CS_PREFIX) :]
        return commonsense_docs(subset, read_rows(source, subset, limit))
    raise SpecError(f"'{task}' is not one of qbench's lm-eval tasks (tasks/lm_eval/)")
