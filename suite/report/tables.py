"""Group run records into leaderboard sections and method x bits tables (pure data, no output).

A *section* holds runs that share model, data source, profile and device; inside it, one
:class:`TaskTable` per (task, protocol, task version).  Runs that differ in any of those never share
a table.  A table row is a method configuration (method, plus rank / group size / quantizer /
storage / hyper-parameters when those vary inside the table), a column is a bit width, and a cell
aggregates the seeds: mean and sample standard deviation of the task metric, plus means of the
cost and init-quality metrics.  The full-precision reference (storage ``dense``, i.e. lora16) is
shown but never ranked.

Example::

    from suite.report.tables import build_sections
    for section in build_sections(selection.records):
        for table in section.tables:
            print(section.title(), table.task, table.metric, table.best)
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from suite import contract as C
from suite.contract import CONTEXT_TAGS
from suite.models import BUILTIN
from suite.report import metrics as M
from suite.report.store import RunRecord

METHOD_ORDER = ("qlora", "loftq", "cloq", "apiq", "lqlora", "gptq-lora")
TASK_ORDER = ("wikitext2", "gsm8k", "commonsense")
REFERENCE_METHOD = "qlora"
DENSE = C.STORAGE_DENSE
DETAIL_METRICS = (
    C.INIT_CALIB_ERR,
    C.INIT_WEIGHT_ERR,
    C.EFFECTIVE_BITS,
    C.BUDGET_BITS,
    C.PREPARE_WALL,
    C.TRAIN_PEAK_MEM,
    C.TRAIN_TOKENS_PER_S,
)
VARIANT_PARAM_PREFIXES = ("method.", "quant.", "train.", "calib.")


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (None for a single value) and count of some values.

    A NaN or ±inf among them is an error, not a value: ``nonfinite`` counts them, the mean is
    NaN, and such a Stat is never ranked, compared or plotted.

        >>> Stat.of([1.0, 3.0]), Stat.of([1.0, float("inf")]).nonfinite
        (Stat(mean=2.0, std=1.4142135623730951, n=2, nonfinite=0), 1)
    """

    mean: float
    std: float | None
    n: int
    nonfinite: int = 0

    @property
    def finite(self) -> bool:
        return self.nonfinite == 0

    @staticmethod
    def of(values: Sequence[float]) -> Stat | None:
        vals = [float(v) for v in values]
        if not vals:
            return None
        bad = sum(not math.isfinite(v) for v in vals)
        if bad:
            return Stat(math.nan, None, len(vals), bad)
        std = statistics.stdev(vals) if len(vals) > 1 else None
        return Stat(statistics.fmean(vals), std, len(vals))


def usable(stat: Stat | None) -> bool:
    """A Stat that can be ranked, compared or plotted: present and finite."""
    return stat is not None and stat.finite


def method_rank(method: str) -> tuple[int, str]:
    """Sort key: the paper methods in a fixed order, then others, the lora16 reference last."""
    if method in METHOD_ORDER:
        return (METHOD_ORDER.index(method), method)
    if method == "lora16":
        return (len(METHOD_ORDER) + 2, method)
    return (len(METHOD_ORDER) + 1, method)


def task_rank(task: str) -> tuple[int, str]:
    """Sort key: the design's tasks first in their usual order, then others by name."""
    return (TASK_ORDER.index(task), task) if task in TASK_ORDER else (len(TASK_ORDER), task)


def bits_sort_key(bits: str) -> tuple[float, str]:
    try:
        return (float(bits), bits)
    except ValueError:
        return (float("inf"), bits)


@dataclass(frozen=True)
class RowKey:
    """What makes two runs the same configuration apart from bits and seed."""

    method: str
    rank: str
    group_size: str
    quantizer: str
    storage: str
    variant: str  # short hash of the method./quant./train./calib. params (seeds excluded)

    def sort_key(self) -> tuple:
        storage = 0 if self.storage == C.STORAGE_PACKED else 1  # packed storage first
        return (method_rank(self.method), storage, self.rank, self.group_size, self.variant)


def _variant_params(rec: RunRecord) -> dict[str, str]:
    return {
        k: v
        for k, v in rec.params.items()
        if k.startswith(VARIANT_PARAM_PREFIXES) and "seed" not in k
    }


def row_key(rec: RunRecord) -> RowKey:
    blob = json.dumps(_variant_params(rec), sort_keys=True).encode()
    return RowKey(
        method=rec.method,
        rank=rec.tag("rank"),
        group_size=rec.tag("group_size"),
        quantizer=rec.tag("quantizer"),
        storage=rec.tag("storage"),
        variant=hashlib.sha1(blob).hexdigest()[:8],
    )


def _labels(keys: Sequence[RowKey], examples: dict[RowKey, RunRecord]) -> dict[RowKey, str]:
    """Row labels: the method, plus what tells apart rows of the same method in this table."""
    by_method: dict[str, list[RowKey]] = defaultdict(list)
    for k in keys:
        by_method[k.method].append(k)
    labels: dict[RowKey, str] = {}
    for method, ks in by_method.items():
        for k in ks:
            extra = []
            if len(ks) > 1:
                if len({x.rank for x in ks}) > 1:
                    extra.append(f"r{k.rank}")
                if len({x.group_size for x in ks}) > 1:
                    extra.append(f"g{k.group_size}")
                if len({x.quantizer for x in ks}) > 1:
                    extra.append(k.quantizer or "default quantizer")
                same = [x for x in ks if x.variant != k.variant]
                if same and len({x.variant for x in ks}) > 1:
                    mine = _variant_params(examples[k])
                    others = [_variant_params(examples[x]) for x in same]
                    diff = sorted(p for p in mine if any(o.get(p) != mine[p] for o in others))
                    extra.extend(f"{p}={mine[p]}" for p in diff[:2])
            if k.storage == DENSE:
                extra.append("full-precision base, reference")
            labels[k] = f"{method} ({', '.join(extra)})" if extra else method
    counts: dict[str, int] = defaultdict(int)
    for label in labels.values():
        counts[label] += 1
    for k, label in labels.items():
        if counts[label] > 1:  # still ambiguous: fall back to the parameter hash
            labels[k] = f"{label} #{k.variant}"
    return labels


@dataclass
class Cell:
    """The runs of one row at one bit width (one per seed) and their aggregated metrics."""

    runs: list[RunRecord]
    metric: Stat | None
    details: dict[str, Stat | None]


@dataclass
class TaskTable:
    """A method x bits table of one task metric under one protocol and task version."""

    task: str
    protocol: str
    task_version: str
    metric: str | None
    bits: list[str]
    rows: list[str]  # row labels in display order
    row_methods: dict[str, str]
    reference_rows: set[str]  # dense (full-precision) rows: shown, never ranked
    cells: dict[tuple[str, str], Cell]
    best: dict[str, list[str]] = field(default_factory=dict)  # bits -> best row labels
    delta: dict[tuple[str, str], float] = field(default_factory=dict)  # vs qlora

    @property
    def direction(self) -> str | None:
        return M.direction(self.metric) if self.metric else None

    def records(self) -> list[RunRecord]:
        return [r for c in self.cells.values() for r in c.runs]


def _aggregate(runs: list[RunRecord], metric: str | None) -> Cell:
    def values(name: str) -> list[float]:
        return [r.metrics[name] for r in runs if name in r.metrics]

    return Cell(
        runs=sorted(runs, key=lambda r: r.seed),
        metric=Stat.of(values(metric)) if metric else None,
        details={name: Stat.of(values(name)) for name in DETAIL_METRICS},
    )


def ordering(table: TaskTable, bits: str) -> list[tuple[str, float]]:
    """The quantized rows at ``bits`` with a usable metric, best first (ties keep row order);
    the full-precision reference rows are not ranked."""
    if not table.metric or table.direction is None:
        return []
    scored = [
        (row, table.cells[(row, bits)].metric.mean)  # type: ignore[union-attr]
        for row in table.rows
        if row not in table.reference_rows
        and (row, bits) in table.cells
        and usable(table.cells[(row, bits)].metric)
    ]
    sign = 1.0 if table.direction == "lower" else -1.0
    return sorted(scored, key=lambda item: sign * item[1])


def _mark_best(table: TaskTable) -> None:
    for b in table.bits:
        ranked = ordering(table, b)
        if ranked:
            table.best[b] = [row for row, v in ranked if v == ranked[0][1]]


def _reference_row(table: TaskTable, keys: dict[str, RowKey], row: str, bits: str) -> str | None:
    refs = [
        r
        for r in table.rows
        if table.row_methods[r] == REFERENCE_METHOD
        and (r, bits) in table.cells
        and usable(table.cells[(r, bits)].metric)
    ]
    if not refs:
        return None
    mine = keys[row]
    exact = [r for r in refs if (keys[r].rank, keys[r].group_size) == (mine.rank, mine.group_size)]
    if exact:
        return exact[0]
    return refs[0] if len(refs) == 1 else None


def _mark_delta(table: TaskTable, keys: dict[str, RowKey]) -> None:
    for (row, b), cell in table.cells.items():
        if not usable(cell.metric) or table.row_methods[row] == REFERENCE_METHOD:
            continue
        ref = _reference_row(table, keys, row, b)
        if ref is not None:
            table.delta[(row, b)] = cell.metric.mean - table.cells[(ref, b)].metric.mean


def build_table(task: str, protocol: str, version: str, runs: Sequence[RunRecord]) -> TaskTable:
    """One task table from the runs of one (task, protocol, task version) in one section."""
    metric = M.primary_metric(task, {m for r in runs for m in r.metrics})
    grouped: dict[tuple[RowKey, str], list[RunRecord]] = defaultdict(list)
    examples: dict[RowKey, RunRecord] = {}
    for rec in runs:
        k = row_key(rec)
        grouped[(k, rec.bits)].append(rec)
        examples.setdefault(k, rec)
    keys = sorted(examples, key=RowKey.sort_key)
    labels = _labels(keys, examples)
    by_label = {labels[k]: k for k in keys}
    table = TaskTable(
        task=task,
        protocol=protocol,
        task_version=version,
        metric=metric,
        bits=sorted({b for _, b in grouped}, key=bits_sort_key),
        rows=[labels[k] for k in keys],
        row_methods={labels[k]: k.method for k in keys},
        reference_rows={labels[k] for k in keys if k.storage == DENSE},
        cells={(labels[k], b): _aggregate(rs, metric) for (k, b), rs in grouped.items()},
    )
    _mark_best(table)
    _mark_delta(table, by_label)
    return table


@dataclass
class Section:
    """Runs that may be compared with each other: same model, data source, profile, device."""

    context: dict[str, str]
    records: list[RunRecord]
    tables: list[TaskTable]

    def versions(self, tag: str) -> list[str]:
        return sorted({r.tag(tag) for r in self.records if r.tag(tag)})

    def title(self) -> str:
        parts = (f"data {self.context['data_source']}", f"profile {self.context['profile']}")
        return " · ".join((self.context["model"], *parts, f"device {self.context['device']}"))

    def notes(self) -> list[str]:
        notes = []
        builtin = BUILTIN.get(self.context.get("model", ""))
        if builtin is not None:
            notes.append(f"{self.context['model']}'s {builtin.note}.")
        shared = sorted({r.tag(C.Tag.WORKERS) for r in self.records if r.tag(C.Tag.WORKERS)})
        if shared:
            n = sum(1 for r in self.records if r.tag(C.Tag.WORKERS))
            notes.append(
                f"{n} of {len(self.records)} runs were made by qbench run --workers "
                f"{'/'.join(shared)} (sweep processes sharing one machine): their times and "
                "throughput are not those of a process alone."
            )
        changed: dict[str, set[str]] = defaultdict(set)
        for rec in self.records:
            if rec.tag(C.Tag.CHANGED_SETTINGS):
                changed[rec.method].add(rec.tag(C.Tag.CHANGED_SETTINGS))
        for method in sorted(changed, key=method_rank):
            notes.append(
                f"{method} ran with settings that differ from its released code's defaults: "
                + " | ".join(sorted(changed[method]))
            )
        return notes


def build_sections(records: Iterable[RunRecord]) -> list[Section]:
    """Split records into sections (by CONTEXT_TAGS) and tables (by task, protocol, version)."""
    by_context: dict[tuple[str, ...], list[RunRecord]] = defaultdict(list)
    for rec in records:
        by_context[tuple(rec.tag(t, "?") for t in CONTEXT_TAGS)].append(rec)
    sections = []
    for ctx in sorted(by_context, key=lambda c: (-len(by_context[c]), c)):
        recs = by_context[ctx]
        by_task: dict[tuple[str, str, str], list[RunRecord]] = defaultdict(list)
        for rec in recs:
            key = (rec.task, rec.tag("protocol", "?"), rec.tag("task_version", "?"))
            by_task[key].append(rec)
        order = sorted(by_task, key=lambda k: (task_rank(k[0]), k))
        tables = [build_table(t, p, v, by_task[(t, p, v)]) for (t, p, v) in order]
        sections.append(Section(dict(zip(CONTEXT_TAGS, ctx, strict=True)), recs, tables))
    return sections


def pareto_front(points: Sequence[tuple[float, float]], direction: str | None) -> list[int]:
    """Indices of points (cost, value) not dominated by another: lower cost and a value at least
    as good (lower or higher as ``direction`` says), sorted by cost."""
    sign = 1.0 if direction != "higher" else -1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], sign * points[i][1]))
    front: list[int] = []
    best = float("inf")
    for i in order:
        v = sign * points[i][1]
        if v < best:
            front.append(i)
            best = v
    return front
