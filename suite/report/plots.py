"""Leaderboard plots as PNG bytes, drawn with matplotlib's Agg canvas (no pyplot, no display).

Four kinds: the task metric against bits (one line per method), the task metric against training
peak memory with the Pareto front marked, prepare wall time by method, and the per-layer init
error of one run.  Each function returns PNG bytes, or None when there is nothing to draw.

Example::

    from suite.report.plots import metric_vs_bits
    png = metric_vs_bits(table)          # table: suite.report.tables.TaskTable
    if png:
        Path("ppl_vs_bits.png").write_bytes(png)
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from suite import contract as C
from suite.report import metrics as M
from suite.report.tables import (
    Section,
    TaskTable,
    bits_sort_key,
    method_rank,
    pareto_front,
    usable,
)

SIZE = (6.4, 4.0)
DPI = 100


def _figure(size: tuple[float, float] = SIZE) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    return fig, ax


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _metric_axis_label(metric: str) -> str:
    return f"{metric} ({M.direction_words(metric)})"


def _log_if_wide(ax: Any, values: Sequence[float]) -> None:
    """A log y-axis where the values are positive and span more than 20x (a diverged 2-bit
    perplexity beside healthy ones would otherwise flatten every other line)."""
    if values and min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _num(bits: str) -> float | None:
    try:
        return float(bits)
    except ValueError:
        return None


def metric_vs_bits(table: TaskTable) -> bytes | None:
    """Task metric (mean, with std error bars) against bits, one line per method row; the
    full-precision reference is a dashed horizontal line."""
    if not table.metric:
        return None
    fig, ax = _figure()
    drawn = False
    plotted: list[float] = []
    for row in table.rows:
        pts = [
            (_num(b), table.cells[(row, b)].metric)
            for b in table.bits
            if (row, b) in table.cells and usable(table.cells[(row, b)].metric)
        ]
        pts = [(x, s) for x, s in pts if x is not None]
        if not pts:
            continue
        drawn = True
        plotted.extend(s.mean for _, s in pts)
        if row in table.reference_rows:
            mean = sum(s.mean for _, s in pts) / len(pts)
            ax.axhline(mean, linestyle="--", color="0.35", label=row)
            continue
        xs = [x for x, _ in pts]
        ys = [s.mean for _, s in pts]
        errs = [s.std or 0.0 for _, s in pts]
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=row)
    if not drawn:
        return None
    _log_if_wide(ax, plotted)
    quant_bits = sorted({x for b in table.bits if (x := _num(b)) is not None and x < 16})
    if quant_bits:
        ax.set_xticks(quant_bits)
    ax.set_xlabel("bits per weight (budget)")
    ax.set_ylabel(_metric_axis_label(table.metric))
    ax.set_title(f"{table.task} ({table.protocol}): {table.metric.rsplit('/', 1)[-1]} vs bits")
    ax.legend(fontsize=8)
    return _png(fig)


def metric_vs_memory(table: TaskTable) -> bytes | None:
    """Task metric against training peak memory per (method, bits), Pareto front marked.
    Fake-quantization rows are left out: their memory is not packed memory."""
    if not table.metric:
        return None
    pts: list[tuple[float, float]] = []
    names: list[str] = []
    for b in table.bits:
        for row in table.rows:
            cell = table.cells.get((row, b))
            if cell is None or not usable(cell.metric):
                continue
            mem = cell.details.get(C.TRAIN_PEAK_MEM)
            if not usable(mem):
                continue
            pts.append((mem.mean / 2**20, cell.metric.mean))
            names.append(f"{row.split(' (')[0]} {b}b")
    if not pts:
        return None
    front = pareto_front(pts, table.direction)
    fig, ax = _figure()
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="tab:blue", zorder=2, label="runs")
    for (x, y), name in zip(pts, names, strict=True):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    fx = [pts[i][0] for i in front]
    fy = [pts[i][1] for i in front]
    ax.plot(fx, fy, drawstyle="steps-post", color="tab:red", linestyle="--", zorder=1)
    ax.scatter(
        fx, fy, s=120, facecolors="none", edgecolors="tab:red", zorder=3, label="Pareto front"
    )
    ax.margins(x=0.15, y=0.1)
    _log_if_wide(ax, [p[1] for p in pts])
    ax.set_xlabel("train peak memory (MiB)")
    ax.set_ylabel(_metric_axis_label(table.metric))
    ax.set_title(f"{table.task} ({table.protocol}): quality vs training memory")
    ax.legend(fontsize=8)
    return _png(fig)


def prepare_time(section: Section) -> bytes | None:
    """Bars of prepare wall time per method, one bar per bit width: the slowest run of each
    (method, bits), since a run that reused a cached prepared model records less."""
    worst: dict[tuple[str, str], float] = defaultdict(float)
    for rec in section.records:
        v = rec.metrics.get(C.PREPARE_WALL)
        if v is not None and math.isfinite(v):
            key = (rec.method, rec.bits)
            worst[key] = max(worst[key], v)
    if not worst:
        return None
    methods = sorted({m for m, _ in worst}, key=method_rank)
    bits = sorted({b for _, b in worst}, key=bits_sort_key)
    fig, ax = _figure()
    width = min(0.8 / len(bits), 0.3)
    for j, b in enumerate(bits):
        xs = [i + (j - (len(bits) - 1) / 2) * width for i in range(len(methods))]
        ys = [worst.get((m, b), 0.0) for m in methods]
        ax.bar(xs, ys, width=width, label=f"{b}-bit")
    ax.set_xticks(range(len(methods)), methods)
    pad = max(0.0, (4 - len(methods)) / 2)  # keep bars slim when there are few methods
    ax.set_xlim(-0.6 - pad, len(methods) - 0.4 + pad)
    values = [v for v in worst.values() if v > 0]
    if values and max(values) / min(values) > 100:
        ax.set_yscale("log")
    ax.set_ylabel("prepare wall time (s)")
    ax.set_title("Prepare wall time by method (slowest run per method and bits)")
    ax.legend(fontsize=8)
    return _png(fig)


def _short_layer_names(names: Sequence[str]) -> list[str]:
    """Drop the dotted prefix that all layer names share (``model.layers.``)."""
    parts = [n.split(".") for n in names]
    common = 0
    while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    return [".".join(p[common:]) for p in parts]


def layer_errors(rows: Sequence[Mapping[str, Any]], title: str) -> bytes | None:
    """Per-layer relative weight error and calibrated output error of one run's initialization."""
    rows = [r for r in rows if isinstance(r, Mapping) and "layer" in r]
    if not rows:
        return None
    fig, ax = _figure((12.0, 4.2))
    xs = list(range(len(rows)))
    for key, color in (("weight_err", "tab:blue"), ("calib_err", "tab:orange")):
        ys = [r.get(key) for r in rows]
        if all(y is None for y in ys):
            continue
        ys = [float(y) if _finite(y) else float("nan") for y in ys]  # gaps, never an axis of inf
        ax.plot(xs, ys, marker=".", linewidth=1, color=color, label=key)
    names = _short_layer_names([str(r["layer"]) for r in rows])
    step = max(1, math.ceil(len(rows) / 40))
    ticks = xs[::step]
    ax.set_xticks(ticks, [names[i] for i in ticks], rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("layer")
    ax.set_ylabel("relative error at initialization")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)
