"""Where a section's time went: per method and bits, the prepare, training and evaluation wall
time of its runs, per task and in total.

A prepare group (method, bits) builds its prepared model once and shares it with every task, so
its prepare time is counted once: the largest ``prepare/wall_s`` among its runs (a run that
loaded the model from the cache records the building run's cost, or only the load where the
cost came from another device). Training and evaluation are counted per run (the newest of each
run key, as everywhere in the report; seeds are added up). The last row adds each column up: the
process time the section's runs took. Runs made by ``qbench run --workers`` shared a machine, so
their times are those of the shared machine, and the sum is more than the sweep's wall time.

    >>> from suite.report.store import RunRecord
    >>> def rec(task, prep, train, ev):
    ...     tags = {"method": "qlora", "bits": "2", "task": task}
    ...     metrics = {"prepare/wall_s": prep, "train/wall_s": train, "eval/wall_s": ev}
    ...     return RunRecord("id", "name", "FINISHED", 0, tags, {}, metrics)
    >>> headers, rows = phase_time_rows([rec("wikitext2", 60, 100, 2), rec("gsm8k", 60, 40, 30)])
    >>> print(" | ".join(headers))
    method | bits | prepare | train wikitext2 | train gsm8k | eval wikitext2 | eval gsm8k | total
    >>> for row in rows:
    ...     print(" | ".join(row))
    qlora | 2 | 60 s | 1.7 min | 40 s | 2 s | 30 s | 3.9 min
    all |  | 60 s | 1.7 min | 40 s | 2 s | 30 s | 3.9 min
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from suite import contract as C
from suite.report.store import RunRecord
from suite.report.tables import bits_sort_key, method_rank, task_rank

TRAIN_WALL = C.phase_metric("train", C.WALL_S)
EVAL_WALL = C.phase_metric("eval", C.WALL_S)


def duration(seconds: float | None) -> str:
    """Seconds as a short duration: ``42 s``, ``3.5 min``, ``1.25 h``; ``–`` when unknown."""
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def phase_time_rows(records: Sequence[RunRecord]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the time table (see the module's docstring)."""
    tasks = sorted({r.task for r in records}, key=task_rank)
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for rec in records:
        groups[(rec.method, rec.bits)].append(rec)
    order = sorted(groups, key=lambda k: (method_rank(k[0]), bits_sort_key(k[1])))
    columns = len(tasks) * 2 + 2
    sums = [0.0] * columns
    known = [False] * columns
    rows = []
    for method, bits in order:
        runs = groups[(method, bits)]
        values = [_largest(runs, C.PREPARE_WALL)]
        for metric in (TRAIN_WALL, EVAL_WALL):
            values += [_total([r for r in runs if r.task == t], metric) for t in tasks]
        present = [v for v in values if v is not None]
        values.append(sum(present) if present else None)
        for i, v in enumerate(values):
            if v is not None:
                sums[i] += v
                known[i] = True
        rows.append([method, bits, *(duration(v) for v in values)])
    totals = [s if k else None for s, k in zip(sums, known, strict=True)]
    rows.append(["all", "", *(duration(v) for v in totals)])
    headers = ["method", "bits", "prepare"]
    headers += [f"train {t}" for t in tasks] + [f"eval {t}" for t in tasks] + ["total"]
    return headers, rows


def _largest(runs: Sequence[RunRecord], metric: str) -> float | None:
    values = [r.metrics[metric] for r in runs if metric in r.metrics]
    return max(values) if values else None


def _total(runs: Sequence[RunRecord], metric: str) -> float | None:
    values = [r.metrics[metric] for r in runs if metric in r.metrics]
    return sum(values) if values else None
