"""Snapshots of finished runs as JSON baselines, and loading them back for ``qbench compare``.

A baseline file is::

    {"format": "qbench-baseline", "format_version": 1, "created": "...", "experiment": "nightly",
     "filters": "...", "entries": [{"run_key", "run_id", "run_name", "start_time", "tags",
                                    "spec", "metrics"}, ...]}

``spec`` is the run's ``spec.json`` artifact when present, else its flattened params unflattened;
``metrics`` hold each metric's latest value (so ``train/loss`` is the last logged step). A run with
a NaN or infinite metric is refused (it has no result to gate against), and so is a baseline file
that holds one, a null, or an entry without metrics.  Entries
are sorted and keys ordered so that a re-export of the same runs gives the same file.

Example::

    from suite.report.export import build_snapshot, load_baseline
    snap = build_snapshot(client, selection)
    Path("results/baselines/nightly.json").write_text(json.dumps(snap, indent=2, sort_keys=True))
    baseline = load_baseline(Path("results/baselines/nightly.json"))
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from suite.contract import SPEC_ARTIFACT
from suite.report.store import ReportError, RunRecord, Selection, read_json_artifact
from suite.report.tables import bits_sort_key, method_rank

FORMAT = "qbench-baseline"
FORMAT_VERSION = 1


def unflatten(params: Mapping[str, str]) -> dict[str, Any]:
    """``{"train.lr": "1e-4"}`` -> ``{"train": {"lr": "1e-4"}}`` (values stay strings)."""
    out: dict[str, Any] = {}
    for key in sorted(params):
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # "a" and "a.b" both set: keep the leaf under "_"
                child = node[part] = {"_": child}
            node = child
        if isinstance(node.get(parts[-1]), dict):
            node[parts[-1]]["_"] = params[key]
        else:
            node[parts[-1]] = params[key]
    return out


def entry_sort_key(tags: Mapping[str, str]) -> tuple:
    return (
        tags.get("model", ""),
        tags.get("task", ""),
        method_rank(tags.get("method", "")),
        bits_sort_key(tags.get("bits", "")),
        tags.get("rank", ""),
        tags.get("seed", ""),
        tags.get("run_key", ""),
    )


def snapshot_entry(client: Any, rec: RunRecord) -> dict[str, Any]:
    """One baseline entry for a run (reads its spec.json artifact when it has one)."""
    bad = sorted(k for k, v in rec.metrics.items() if not math.isfinite(v))
    if bad:
        raise ReportError(
            f"run {rec.run_name or rec.run_id} ({rec.label()}, run_key {rec.run_key or '?'}) "
            f"has a non-finite {bad[0]} ({rec.metrics[bad[0]]}): not a baseline; allowed: runs "
            "whose metrics are all finite (rerun it, or leave it out with --model/--task/--since)"
        )
    spec = read_json_artifact(client, rec, SPEC_ARTIFACT)
    return {
        "run_key": rec.run_key,
        "run_id": rec.run_id,
        "run_name": rec.run_name,
        "start_time": rec.started.isoformat(timespec="seconds"),
        "tags": dict(sorted(rec.tags.items())),
        "spec": spec if isinstance(spec, dict) else unflatten(rec.params),
        "metrics": dict(sorted(rec.metrics.items())),
    }


def build_snapshot(client: Any, sel: Selection, now: datetime | None = None) -> dict[str, Any]:
    """The baseline document for the selected runs."""
    records = sorted(sel.records, key=lambda r: entry_sort_key(r.tags))
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "experiment": sel.experiment,
        "filters": sel.filters.describe(),
        "entries": [snapshot_entry(client, r) for r in records],
    }


@dataclass(frozen=True)
class BaselineEntry:
    """A baseline run: its key, identifying tags and metric values."""

    run_key: str
    run_name: str
    tags: Mapping[str, str]
    metrics: Mapping[str, float]

    def label(self) -> str:
        method, bits, task, seed = (
            self.tags.get(k, "?") for k in ("method", "bits", "task", "seed")
        )
        return f"{method}/{bits}/{task}/s{seed}"


@dataclass(frozen=True)
class Baseline:
    path: Path
    experiment: str | None
    entries: list[BaselineEntry]


def _corrupt(path: Path, why: str) -> ReportError:
    return ReportError(f"baseline file {path} is not a usable qbench baseline: {why}")


def _entry(path: Path, i: int, raw: Any) -> BaselineEntry:
    if not isinstance(raw, dict):
        raise _corrupt(path, f"entry {i} is not an object")
    tags, metrics = raw.get("tags"), raw.get("metrics")
    if not isinstance(tags, dict) or not isinstance(metrics, dict):
        raise _corrupt(path, f"entry {i} lacks 'tags' or 'metrics' objects")
    if not metrics:
        raise _corrupt(path, f"entry {i} has no metrics")
    clean: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _corrupt(path, f"entry {i} metric {name!r} is {value!r}, not a number")
        if not math.isfinite(value):
            raise _corrupt(path, f"entry {i} metric {name!r} is {value}, not a finite number")
        clean[str(name)] = float(value)
    return BaselineEntry(
        run_key=str(raw.get("run_key") or tags.get("run_key") or ""),
        run_name=str(raw.get("run_name") or ""),
        tags={str(k): str(v) for k, v in tags.items()},
        metrics=clean,
    )


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # JSON has no NaN or Infinity; Python's json reads them by default


def load_baseline(path: Path) -> Baseline:
    """Read and validate a baseline file (ReportError with one line when missing or corrupt)."""
    if not path.is_file():
        raise ReportError(f"baseline file not found: {path} (make one with `qbench export --out`)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except ValueError as exc:
        if exc.args and exc.args[0] in ("NaN", "Infinity", "-Infinity"):
            raise _corrupt(path, f"it holds {exc.args[0]}, not a finite number") from None
        raise _corrupt(path, f"invalid JSON ({exc.__class__.__name__}: {exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(path, f"invalid JSON ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _corrupt(path, f'expected an object with "format": "{FORMAT}"')
    if doc.get("format_version") != FORMAT_VERSION:
        raise _corrupt(
            path,
            f"format_version {doc.get('format_version')!r}, this qbench reads {FORMAT_VERSION}",
        )
    raw_entries = doc.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise _corrupt(path, "'entries' is missing or empty")
    entries = [_entry(path, i, e) for i, e in enumerate(raw_entries)]
    exp = doc.get("experiment")
    return Baseline(path, exp if isinstance(exp, str) and exp else None, entries)
