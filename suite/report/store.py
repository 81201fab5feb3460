"""Read the MLflow tracking store that ``qbench run`` writes, into plain records.

Everything in ``suite.report`` works on :class:`RunRecord` objects, never on MLflow entities, so
tables, plots and comparisons are plain Python.  This module opens a store (the URI and its
checks are :mod:`suite.contract`'s; a missing or unreachable store is refused, never created),
applies the report filters, ignores runs that are not FINISHED (but counts them), and keeps only
the newest FINISHED run of each run key.

    >>> rec = RunRecord("id1", "cloq-b2", FINISHED, 0, {"method": "cloq", "bits": "2",
    ...     "task": "wikitext2", "seed": "0"}, {}, {"eval/wikitext2/ppl": 20.0})
    >>> rec.label()
    'cloq/2/wikitext2/s0'
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from suite.contract import FINISHED, Tag, check_uri, stored_value
from suite.spec import SpecError


class ReportError(SpecError):
    """Bad input or an unusable store: the CLI prints the message on one line and exits 2."""


@dataclass(frozen=True)
class RunRecord:
    """One MLflow run as plain data (metrics hold each metric's latest value, i.e. last step)."""

    run_id: str
    run_name: str
    status: str
    start_time: int  # ms since the epoch
    tags: Mapping[str, str]
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    artifact_uri: str = ""

    def tag(self, name: str, default: str = "") -> str:
        return self.tags.get(name, default)

    @property
    def method(self) -> str:
        return self.tag(Tag.METHOD, "?")

    @property
    def bits(self) -> str:
        return self.tag(Tag.BITS, "?")

    @property
    def task(self) -> str:
        return self.tag(Tag.TASK, "?")

    @property
    def seed(self) -> str:
        return self.tag(Tag.SEED, "?")

    @property
    def run_key(self) -> str:
        return self.tag(Tag.RUN_KEY, "")

    @property
    def started(self) -> datetime:
        return datetime.fromtimestamp(self.start_time / 1000, tz=UTC)

    def label(self) -> str:
        """Short identity such as ``cloq/2/wikitext2/s0``."""
        return f"{self.method}/{self.bits}/{self.task}/s{self.seed}"


@dataclass(frozen=True)
class Filters:
    """Which runs a report, export or comparison looks at; empty tuples mean 'all'."""

    models: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    since: datetime | None = None

    def describe(self) -> str:
        parts = []
        if self.models:
            parts.append("model " + ", ".join(self.models))
        if self.tasks:
            parts.append("task " + ", ".join(self.tasks))
        if self.since:
            parts.append("since " + self.since.strftime("%Y-%m-%d %H:%M UTC"))
        return "; ".join(parts) if parts else "none"


@dataclass(frozen=True)
class Selection:
    """The FINISHED runs that passed the filters (newest per run_key) and what was left out."""

    records: list[RunRecord]
    experiment: str
    tracking_uri: str
    filters: Filters
    ignored: Mapping[str, int] = field(default_factory=dict)  # status -> count (filters applied)
    superseded: int = 0  # older FINISHED runs of a run_key that a newer one replaced


_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """Parse ``--since``: a date (2026-11-01), an ISO date-time or a duration (30m, 12h, 7d, 2w)."""
    now = now or datetime.now(UTC)
    s = text.strip()
    m = _DURATION.match(s.lower())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        when = datetime.fromisoformat(s)
    except ValueError:
        raise ReportError(
            f"bad --since {text!r}: expected a date (2026-11-01), a date-time "
            "(2026-11-01T12:00) or a duration (30m, 12h, 7d, 2w)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def open_client(uri: str) -> Any:
    """An ``MlflowClient`` for an existing, reachable store (raises ReportError otherwise)."""
    try:
        check_uri(uri, existing=True)
    except SpecError as err:
        raise ReportError(str(err)) from None
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _experiment_id(client: Any, experiment: str) -> str:
    try:
        exp = client.get_experiment_by_name(experiment)
        if exp is not None:
            return exp.experiment_id
        names = sorted(e.name for e in client.search_experiments())
    except Exception as exc:  # MLflow raises many kinds for a broken store
        raise ReportError(f"cannot read tracking store: {_one_line(exc)}") from None
    allowed = ", ".join(names) if names else "no experiments"
    raise ReportError(f"unknown --experiment {experiment!r}: the store has {allowed}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__


def _to_record(run: Any) -> RunRecord:
    return RunRecord(
        run_id=run.info.run_id,
        run_name=run.info.run_name or "",
        status=run.info.status,
        start_time=int(run.info.start_time or 0),
        tags={k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        params=dict(run.data.params),
        metrics={k: stored_value(v) for k, v in run.data.metrics.items()},
        artifact_uri=run.info.artifact_uri or "",
    )


def fetch_runs(client: Any, experiment: str) -> list[RunRecord]:
    """Every active run of an experiment, newest first, as records (pages through the store)."""
    exp_id = _experiment_id(client, experiment)
    out: list[RunRecord] = []
    token = None
    try:
        while True:
            page = client.search_runs(
                [exp_id],
                max_results=1000,
                order_by=["attributes.start_time DESC"],
                page_token=token,
            )
            out.extend(_to_record(r) for r in page)
            token = page.token
            if not token:
                break
    except Exception as exc:
        raise ReportError(
            f"cannot read runs of experiment {experiment!r}: {_one_line(exc)}"
        ) from None
    out.sort(key=lambda r: (r.start_time, r.run_id), reverse=True)
    return out


def _check_values(flag: str, wanted: Iterable[str], present: Iterable[str]) -> None:
    have = sorted(set(present))
    for value in wanted:
        if value not in have:
            allowed = ", ".join(have) if have else "no finished runs"
            raise ReportError(f"unknown {flag} {value!r}: the store has {allowed}")


def newest_per_key(records: Iterable[RunRecord]) -> tuple[list[RunRecord], int]:
    """Keep the newest record of each run_key (records without a key are all kept)."""
    seen: set[str] = set()
    kept: list[RunRecord] = []
    dropped = 0
    for rec in sorted(records, key=lambda r: (r.start_time, r.run_id), reverse=True):
        key = rec.run_key
        if key and key in seen:
            dropped += 1
            continue
        seen.add(key)
        kept.append(rec)
    return kept, dropped


def select(runs: list[RunRecord], experiment: str, uri: str, filters: Filters) -> Selection:
    """Apply filters (validating their values against the finished runs) and de-duplicate."""
    finished = [r for r in runs if r.status == FINISHED]
    _check_values("--model", filters.models, (r.tag(Tag.MODEL) for r in finished))
    _check_values("--task", filters.tasks, (r.task for r in finished))

    def keep(r: RunRecord) -> bool:
        if filters.models and r.tag(Tag.MODEL) not in filters.models:
            return False
        if filters.tasks and r.task not in filters.tasks:
            return False
        return not (filters.since and r.started < filters.since)

    chosen = [r for r in runs if keep(r)]
    ignored = Counter(r.status for r in chosen if r.status != FINISHED)
    records, superseded = newest_per_key(r for r in chosen if r.status == FINISHED)
    return Selection(records, experiment, uri, filters, dict(ignored), superseded)


def _local_artifact_dir(rec: RunRecord) -> Path | None:
    """The run's artifact directory when it is on this file system (the usual sqlite set-up)."""
    parsed = urlparse(rec.artifact_uri)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "" and rec.artifact_uri:
        return Path(rec.artifact_uri)
    return None


@contextmanager
def quiet_downloads() -> Iterator[None]:
    """Silence MLflow's artifact progress bar for the duration of a download."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    old = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def list_artifact_names(client: Any, rec: RunRecord) -> set[str]:
    """Top-level artifact names of a run (empty when it has none or they cannot be listed)."""
    local = _local_artifact_dir(rec)
    if local is not None:
        return {p.name for p in local.iterdir()} if local.is_dir() else set()
    try:
        return {Path(a.path).name for a in client.list_artifacts(rec.run_id)}
    except Exception:
        return set()


def read_json_artifact(client: Any, rec: RunRecord, path: str) -> Any | None:
    """Load a JSON artifact of a run, or None when it is absent or unreadable."""
    try:
        local = _local_artifact_dir(rec)
        if local is not None:
            return json.loads((local / path).read_text(encoding="utf-8"))
        with tempfile.TemporaryDirectory(prefix="qbench-art-") as tmp, quiet_downloads():
            got = client.download_artifacts(rec.run_id, path, tmp)
            return json.loads(Path(got).read_text(encoding="utf-8"))
    except Exception:
        return None
