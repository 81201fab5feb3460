"""Metric names, their direction (lower or higher is better) and how to print them.

This is the one place that knows which way a metric points; tables, plots and the regression
comparison all ask here.  The rule reads the last segment of the metric name: ``acc*``,
``tokens_per_s``, ``f1`` and ``em`` are higher-better; names ending in ``ppl``, ``loss``,
``err``, ``_s`` or ``bytes`` are lower-better; anything else (e.g. ``quant/effective_bits``)
has no direction.

Example::

    >>> from suite.report.metrics import direction, primary_metric
    >>> [direction(n) for n in ("eval/wikitext2/ppl", "eval/gsm8k/acc", "quant/effective_bits")]
    ['lower', 'higher', None]
    >>> primary_metric("gsm8k", {"eval/gsm8k/acc": 0.31, "eval/gsm8k/n": 50.0})
    'eval/gsm8k/acc'
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

Direction = Literal["lower", "higher"]

HIGHER_EXACT = ("tokens_per_s", "f1", "em")
HIGHER_PREFIXES = ("acc",)
LOWER_SUFFIXES = ("ppl", "loss", "err", "_s", "bytes")

# The metric a task's table is about, when the task is one of ours; others fall back to
# PRIMARY_PREFERENCE over the task's own `eval/<task>/<name>` metrics.
PRIMARY_BY_TASK = {
    "wikitext2": "eval/wikitext2/ppl",
    "gsm8k": "eval/gsm8k/acc",
    "commonsense": "eval/commonsense/acc_mean",
}
PRIMARY_PREFERENCE = ("ppl", "acc_mean", "acc", "f1", "em", "loss")

INIT_CALIB_ERR = "init/calib_err"
INIT_WEIGHT_ERR = "init/weight_err"
EFFECTIVE_BITS = "quant/effective_bits"
PREPARE_WALL = "prepare/wall_s"
TRAIN_PEAK_MEM = "train/peak_mem_bytes"
TRAIN_TOKENS_PER_S = "train/tokens_per_s"
TRAIN_LOSS = "train/loss"


def direction(name: str) -> Direction | None:
    """Return ``"lower"`` or ``"higher"`` for a metric name, or None when it has no direction."""
    last = name.rsplit("/", 1)[-1]
    if last in HIGHER_EXACT or last.startswith(HIGHER_PREFIXES):
        return "higher"
    if last.endswith(LOWER_SUFFIXES):
        return "lower"
    return None


def is_better(a: float, b: float, name: str) -> bool:
    """True when ``a`` is strictly better than ``b`` for metric ``name`` (no direction: False)."""
    d = direction(name)
    if d == "lower":
        return a < b
    if d == "higher":
        return a > b
    return False


def direction_words(name: str) -> str:
    """Human words for a metric's direction, e.g. ``"lower is better"``."""
    d = direction(name)
    return f"{d} is better" if d else "no direction"


def task_metrics(task: str, names: Iterable[str]) -> list[str]:
    """The `eval/<task>/<name>` metrics among ``names`` (sub-set metrics such as
    ``eval/commonsense/boolq/acc`` included), sorted."""
    prefix = f"eval/{task}/"
    return sorted(n for n in names if n.startswith(prefix))


def primary_metric(task: str, metrics: Iterable[str]) -> str | None:
    """The metric a task's leaderboard table ranks by, given the metric names that runs have."""
    names = set(metrics)
    known = PRIMARY_BY_TASK.get(task)
    if known and known in names:
        return known
    top = [n for n in task_metrics(task, names) if n.count("/") == 2]
    for pref in PRIMARY_PREFERENCE:
        for n in top:
            if n.rsplit("/", 1)[-1] == pref:
                return n
    directed = [n for n in top if direction(n)]
    return directed[0] if directed else (top[0] if top else None)


def decimals_for(value: float, name: str = "") -> int:
    """Decimals that show a value of this size usefully (accuracies get 3, big numbers fewer)."""
    last = name.rsplit("/", 1)[-1]
    if last.startswith("acc") or last in ("f1", "em") or last.endswith("bits"):
        return 3
    a = abs(value)
    if not math.isfinite(a):
        return 0
    if a >= 1000:
        return 0
    if a >= 100:
        return 1
    if a >= 10:
        return 2
    if a >= 1:
        return 3
    return 4


def fmt_value(value: float | None, name: str = "", decimals: int | None = None) -> str:
    """Format a metric value for a table; bytes and seconds get units, missing values a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if name.endswith("bytes"):
        return fmt_bytes(value)
    if name.endswith("wall_s"):
        return fmt_seconds(value)
    if name.endswith("tokens_per_s"):
        return f"{value:,.0f}"
    d = decimals_for(value, name) if decimals is None else decimals
    return f"{value:.{d}f}"


def fmt_bytes(n: float) -> str:
    """Bytes as B/KiB/MiB/GiB with one decimal."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    v = float(n)
    for unit in units:
        if abs(v) < 1024 or unit == units[-1]:
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return f"{v:.1f} TiB"  # pragma: no cover - loop always returns


def fmt_seconds(s: float) -> str:
    """Seconds as `12.3 s`, `4.5 min` or `1.2 h`."""
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"
