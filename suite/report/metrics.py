"""Metric directions, the metric a task's table ranks by, and how values print.

Directions and primary metrics are :mod:`suite.contract`'s (each task declares its own; the
harness's metrics are declared there): nothing here guesses from a metric's name.

    >>> from suite.report.metrics import direction, fmt_value, primary_metric
    >>> [direction(n) for n in ("eval/wikitext2/ppl", "eval/gsm8k/acc", "quant/effective_bits")]
    ['lower', 'higher', None]
    >>> primary_metric("gsm8k", {"eval/gsm8k/acc": 0.31, "eval/gsm8k/n": 50.0})
    'eval/gsm8k/acc'
    >>> fmt_value(3.5e9, "train/peak_mem_bytes"), fmt_value(0.3127, "eval/gsm8k/acc")
    ('3.3 GiB', '0.313')
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from suite import contract
from suite.contract import direction

__all__ = ["decimals_for", "direction", "direction_words", "fmt_value", "primary_metric"]


def direction_words(name: str) -> str:
    """Human words for a metric's direction, e.g. ``"lower is better"``."""
    d = direction(name)
    return f"{d} is better" if d else "no direction"


def task_metrics(task: str, names: Iterable[str]) -> list[str]:
    """The `eval/<task>/<name>` metrics among ``names`` (sub-set metrics such as
    ``eval/commonsense/boolq/acc`` included), sorted."""
    prefix = contract.eval_metric(task, "")
    return sorted(n for n in names if n.startswith(prefix))


def primary_metric(task: str, metrics: Iterable[str]) -> str | None:
    """The metric a task's table ranks by, given the metric names its runs have: the task's
    declared primary metric; for a task this installation does not know, its first top-level
    metric (shown, but with no direction, never ranked)."""
    names = set(metrics)
    declared = contract.primary_metric(task)
    if declared is not None:
        return declared if declared in names else None
    top = [n for n in task_metrics(task, names) if n.count("/") == 2]
    return top[0] if top else None


BIG = 1e6  # from here on a table shows three significant digits


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
    """Format a metric value for a table; bytes and seconds get units, missing values a dash,
    values of a million and more three significant digits.

        >>> fmt_value(2957.4, "eval/wikitext2/ppl"), fmt_value(239535204.0, "eval/wikitext2/ppl")
        ('2957', '2.4e+08')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if name.endswith("bytes"):
        return fmt_bytes(value)
    if name.endswith("wall_s"):
        return fmt_seconds(value)
    if name.endswith("tokens_per_s"):
        return f"{value:,.0f}"
    if math.isfinite(value) and abs(value) >= BIG:  # a destroyed model's perplexity, say
        return f"{value:.3g}"
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
