"""Regression gates: compare a baseline snapshot with the newest matching runs in a store.

Each baseline entry is matched to the newest FINISHED run with the same ``run_key``; failing that,
to the newest run whose identifying tags (method, model, bits, group_size, rank, task, protocol,
seed, data_source, profile) all agree, and the match says so.  Each gated metric is then compared
direction-aware: a change for the worse beyond its tolerance is a regression, one for the better an
improvement; a metric with no direction (``quant/effective_bits``) regresses on any change beyond
tolerance. A current value that is NaN or ±inf is an error (``non-finite``, failing the gate like a
regression), never an improvement; a baseline holding one is refused when it is loaded.

Tolerances (``METRIC:TOL``): ``0.5`` is absolute, ``5%`` relative to the baseline value, ``off``
ungates.  METRIC is a name, a glob (``eval/*/ppl``) or a bare last segment (``wall_s``).  Rules
given on the command line win over the defaults, later ones over earlier ones.  By default:
perplexities and losses 2 % relative, accuracies / F1 / EM 0.02 absolute, init errors 5 %
relative, the last training loss 5 % relative, effective bits 0.01 absolute; wall time, memory,
sizes and throughput are shown only when a rule names them.

Example::

    from suite.report.compare import compare, parse_rule
    result = compare(baseline, runs, [parse_rule("eval/wikitext2/ppl:1%")])
    exit_code = 1 if result.regressions else 0
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from suite.contract import FINISHED, IDENTITY_TAGS
from suite.report import metrics as M
from suite.report.export import Baseline, BaselineEntry
from suite.report.store import ReportError, RunRecord

WARN_TAGS = ("device", "protocol", "task_version", "qbench_version")
_TOL = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*(%?)\s*$")


@dataclass(frozen=True)
class Rule:
    """A tolerance for the metrics matching ``pattern``: absolute, relative, or off."""

    pattern: str
    tol: float
    relative: bool
    off: bool = False

    def matches(self, metric: str) -> bool:
        if "/" not in self.pattern and not any(c in self.pattern for c in "*?["):
            return metric.rsplit("/", 1)[-1] == self.pattern
        return fnmatchcase(metric, self.pattern)

    def allowed(self, baseline: float) -> float:
        return self.tol * abs(baseline) if self.relative else self.tol

    def text(self) -> str:
        if self.off:
            return f"{self.pattern}:off"
        return (
            f"{self.pattern}:{self.tol * 100:g}%"
            if self.relative
            else f"{self.pattern}:{self.tol:g}"
        )


def parse_rule(text: str) -> Rule:
    """Parse ``METRIC:TOL`` (``eval/wikitext2/ppl:2%``, ``eval/*/acc:0.01``, ``wall_s:off``)."""
    metric, sep, tol = text.rpartition(":")
    bad = (
        f"bad --rule {text!r}: expected METRIC:TOL, TOL an absolute number (0.5), a percentage "
        "(5%) or 'off', e.g. eval/wikitext2/ppl:2%"
    )
    if not sep or not metric.strip():
        raise ReportError(bad)
    if tol.strip().lower() == "off":
        return Rule(metric.strip(), 0.0, False, off=True)
    m = _TOL.match(tol)
    if not m:
        raise ReportError(bad)
    value = float(tol.strip().rstrip("%"))
    if not math.isfinite(value):
        raise ReportError(bad)
    relative = bool(m.group(2))
    return Rule(metric.strip(), value / 100 if relative else value, relative)


DEFAULT_RULES: tuple[Rule, ...] = tuple(
    parse_rule(r)
    for r in (
        "eval/*ppl:2%",
        "eval/*loss:2%",
        "eval/*acc*:0.02",
        "eval/*/f1:0.02",
        "eval/*/em:0.02",
        "init/*err:5%",
        "train/loss:5%",
        "quant/effective_bits:0.01",
    )
)


def rule_for(metric: str, rules: Sequence[Rule]) -> Rule | None:
    """The rule that gates ``metric``: the last matching user rule, else the first default."""
    for rule in reversed(rules):
        if rule.matches(metric):
            return None if rule.off else rule
    for rule in DEFAULT_RULES:
        if rule.matches(metric):
            return rule
    return None


@dataclass(frozen=True)
class MetricResult:
    entry: str
    metric: str
    baseline: float
    current: float | None
    allowed: float
    rule: str
    status: str  # regression | improvement | ok | changed | missing | non-finite

    @property
    def delta(self) -> float | None:
        if self.current is None or not math.isfinite(self.current):
            return None
        return self.current - self.baseline

    @property
    def is_regression(self) -> bool:
        return self.status in ("regression", "changed", "missing", "non-finite")


def judge(metric: str, baseline: float, current: float | None, rule: Rule) -> str:
    """Status of one metric under one rule (see module doc)."""
    if current is None:
        return "missing"
    if not math.isfinite(current):  # NaN or ±inf is an error, never an improvement
        return "non-finite"
    delta = current - baseline
    if abs(delta) <= rule.allowed(baseline) + 1e-12 * max(1.0, abs(baseline)):
        return "ok"
    d = M.direction(metric)
    if d is None:
        return "changed"
    worse = delta > 0 if d == "lower" else delta < 0
    return "regression" if worse else "improvement"


@dataclass(frozen=True)
class Match:
    entry: BaselineEntry
    run: RunRecord
    by: str  # "run_key" or "tags"


@dataclass
class Comparison:
    matches: list[Match]
    results: list[MetricResult]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[MetricResult]:
        return [r for r in self.results if r.is_regression]

    @property
    def improvements(self) -> list[MetricResult]:
        return [r for r in self.results if r.status == "improvement"]


def match_entries(entries: Sequence[BaselineEntry], runs: Sequence[RunRecord]) -> list[Match]:
    """Newest FINISHED run per entry, by run_key, else by identifying tags (ReportError if none)."""
    finished = sorted(
        (r for r in runs if r.status == FINISHED),
        key=lambda r: (r.start_time, r.run_id),
        reverse=True,
    )
    by_key: dict[str, RunRecord] = {}
    for r in finished:
        by_key.setdefault(r.run_key, r)
    out = []
    for e in entries:
        run = by_key.get(e.run_key) if e.run_key else None
        if run is not None:
            out.append(Match(e, run, "run_key"))
            continue
        same = [r for r in finished if all(r.tag(t) == e.tags.get(t, "") for t in IDENTITY_TAGS)]
        if not same:
            raise ReportError(
                f"no run matches baseline entry {e.label()} (run_key {e.run_key or '?'})"
            )
        out.append(Match(e, same[0], "tags"))
    return out


def compare(baseline: Baseline, runs: Sequence[RunRecord], rules: Sequence[Rule]) -> Comparison:
    """Match every baseline entry and judge its gated metrics."""
    matches = match_entries(baseline.entries, runs)
    results: list[MetricResult] = []
    notes: list[str] = []
    diffs: Counter[tuple[str, str, str]] = Counter()
    for m in matches:
        label = m.entry.label()
        if m.by == "tags":
            notes.append(
                f"{label}: no run with run_key {m.entry.run_key or '?'}; matched run "
                f"{m.run.run_name or m.run.run_id} (run_key {m.run.run_key or '?'}) by its tags"
            )
        for tag in WARN_TAGS:
            old, new = m.entry.tags.get(tag, ""), m.run.tag(tag)
            if old != new:
                diffs[(tag, old, new)] += 1
        for metric, base in sorted(m.entry.metrics.items()):
            rule = rule_for(metric, rules)
            if rule is None:
                continue
            current = m.run.metrics.get(metric)
            status = judge(metric, base, current, rule)
            results.append(
                MetricResult(label, metric, base, current, rule.allowed(base), rule.text(), status)
            )
    if not results:
        raise ReportError(
            f"nothing to check: no metric of the {len(matches)} baseline entries is gated by a "
            "rule; allowed: a baseline with gated metrics (e.g. eval/*/ppl, init/*err), or "
            "--rule METRIC:TOL for the metrics it has"
        )
    warnings = [
        f"{tag} differs from the baseline ({old or '?'!s} -> {new or '?'!s}) for {n} "
        f"entr{'y' if n == 1 else 'ies'}: numbers may not be comparable"
        for (tag, old, new), n in sorted(diffs.items())
    ]
    return Comparison(matches, results, warnings, notes)
