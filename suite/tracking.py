"""MLflow recording: one run per RunSpec, found again by its run key.

A run is created RUNNING with its tags and params, receives metrics and artifacts, and is marked
FINISHED only after everything is written, so a FINISHED run is always complete. A run that
raises is marked FAILED with its error; a run left RUNNING by a killed process is marked FAILED
("interrupted") by the next sweep, which then runs that spec again. Where runs go and what their
tags and metrics are called is :mod:`suite.contract`'s.

Connecting checks the store (one line and exit 2 where it cannot be used) but writes nothing:
the store and the experiment are created on first use, so a sweep that fails validation leaves
no store behind.

    >>> tracker = Tracker.connect("sqlite:///results/mlflow.db", "qbench")
    >>> tracker.uri, tracker.experiment
    ('sqlite:///results/mlflow.db', 'qbench')
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from suite import contract
from suite.contract import FAILED, FINISHED, RUNNING, Tag


@dataclass
class Tracker:
    uri: str
    experiment: str
    store_dir: Path | None = None  # a local store's folder, created on first use

    @classmethod
    def connect(cls, uri: str | None, experiment: str) -> Tracker:
        uri = contract.resolve_uri(uri)
        return cls(uri, experiment, contract.check_uri(uri, existing=False))

    @functools.cached_property
    def client(self) -> Any:
        if self.store_dir is not None:
            self.store_dir.mkdir(parents=True, exist_ok=True)
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri)

    @property
    def artifact_location(self) -> str | None:
        """Where a local store keeps this experiment's artifacts: next to the store, in a folder
        named safely after the experiment; None for a server (it decides)."""
        if self.store_dir is None:
            return None
        folder = contract.experiment_folder(self.experiment)
        return (self.store_dir.resolve() / contract.ARTIFACTS_DIR / folder).as_uri()

    @functools.cached_property
    def experiment_id(self) -> str:
        exp = self.client.get_experiment_by_name(self.experiment)
        location = self.artifact_location
        if exp is None:
            return self.client.create_experiment(self.experiment, artifact_location=location)
        old = exp.artifact_location
        if location is not None and old != location and _local_path(old) is not None:
            db = contract.sqlite_path(self.uri)
            assert db is not None  # a local store is a sqlite store
            _relocate(db, exp.experiment_id, old, location)
        return exp.experiment_id

    def _search(self, run_key: str, status: str | None = None) -> list:
        query = f"tags.{Tag.RUN_KEY} = '{run_key}'"
        if status:
            query += f" and attributes.status = '{status}'"
        return self.client.search_runs([self.experiment_id], query, order_by=["start_time DESC"])

    def finished(self, run_key: str) -> str | None:
        """The id of the newest FINISHED run with this key, or None."""
        runs = self._search(run_key, FINISHED)
        return runs[0].info.run_id if runs else None

    def reap_interrupted(self, run_key: str) -> int:
        """Mark RUNNING runs of this key whose process is gone as FAILED; return how many."""
        host = socket.gethostname()
        reaped = 0
        for run in self._search(run_key, RUNNING):
            tags = run.data.tags
            if tags.get(Tag.HOST) == host and _alive(tags.get(Tag.PID, "")):
                continue
            self.client.set_tag(run.info.run_id, Tag.ERROR, "interrupted: its process ended")
            self.client.set_terminated(run.info.run_id, FAILED)
            reaped += 1
        return reaped

    def start(self, run_name: str, tags: dict[str, str], params: dict[str, str]) -> str:
        tags = {**tags, **contract.run_tags(host=socket.gethostname(), pid=str(os.getpid()))}
        run = self.client.create_run(self.experiment_id, tags=tags, run_name=run_name)
        run_id = run.info.run_id
        from mlflow.entities import Param

        items = [Param(k, v[:6000]) for k, v in sorted(params.items())]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[start : start + 100])
        return run_id

    def metrics(self, run_id: str, values: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = _now_ms()
        items = [Metric(k, float(v), now, step) for k, v in values.items()]
        for start in range(0, len(items), 500):
            self.client.log_batch(run_id, metrics=items[start : start + 500])

    def series(self, run_id: str, key: str, points: list[tuple[int, float]]) -> None:
        """Log a metric by step (e.g. train/loss)."""
        from mlflow.entities import Metric

        now = _now_ms()
        items = [Metric(key, float(v), now, int(s)) for s, v in points]
        for start in range(0, len(items), 500):
            self.client.log_batch(run_id, metrics=items[start : start + 500])

    def text(self, run_id: str, text: str, path: str) -> None:
        self.client.log_text(run_id, text, path)

    def json(self, run_id: str, obj: Any, path: str) -> None:
        self.client.log_text(run_id, json.dumps(obj, indent=1, default=str), path)

    def tag(self, run_id: str, tags: dict[str, str]) -> None:
        """Set tags on a run (names from :func:`suite.contract.run_tags`)."""
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)

    def finish(self, run_id: str, status: str = FINISHED, error: str | None = None) -> None:
        if error:
            self.client.set_tag(run_id, Tag.ERROR, error[:4000])
        self.client.set_terminated(run_id, status)


def _local_path(uri: str) -> Path | None:
    """The folder of a ``file:`` (or plain path) artifact location; None for remote ones."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    return Path(uri) if not parsed.scheme and uri else None


def _relocate(db: Path, experiment_id: str, old: str, new: str) -> None:
    """Point an experiment of a local store that was moved or copied (or that an older qbench
    gave a folder outside it) at its folder next to the store, so new runs write their artifacts
    there and not into another store's folder. MLflow keeps artifact locations absolute and has
    no call to change one, so its two columns are updated here; an old run is pointed at its
    copy next to the store where that copy exists, and keeps its recorded location otherwise."""
    with closing(sqlite3.connect(db, timeout=60)) as conn, conn:
        conn.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
            (new, int(experiment_id)),
        )
        rows = conn.execute(
            "SELECT run_uuid, artifact_uri FROM runs WHERE experiment_id = ?",
            (int(experiment_id),),
        ).fetchall()
        for run_id, uri in rows:
            if not (uri or "").startswith(old.rstrip("/") + "/"):
                continue
            moved = new.rstrip("/") + uri[len(old.rstrip("/")) :]
            path = _local_path(moved)
            if path is not None and path.is_dir():
                conn.execute("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", (moved, run_id))


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
