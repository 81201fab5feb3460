"""MLflow recording: one run per RunSpec, found again by its run key.

A run is created RUNNING with its tags and params, receives metrics and artifacts, and is marked
FINISHED only after everything is written, so a FINISHED run is always complete. A run that
raises is marked FAILED with its error. Who may create a key's run, and what happens to a run
whose process is gone, is :mod:`suite.claims`'s. Where runs go and what their tags and metrics
are called is :mod:`suite.contract`'s.

Connecting checks the store (one line and exit 2 where it cannot be used) but writes nothing:
the store and the experiment are created on first use, so a sweep that fails validation leaves
no store behind. A new sqlite store is created, and an experiment in it, under a lock file
beside the database (``<db>.lock``), so processes that start together create it once.

    >>> tracker = Tracker.connect("sqlite:///results/mlflow.db", "qbench")
    >>> tracker.uri, tracker.experiment
    ('sqlite:///results/mlflow.db', 'qbench')
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from suite import contract
from suite.contract import FAILED, FINISHED, Tag
from suite.spec import SpecError


@dataclass
class Tracker:
    uri: str
    experiment: str
    store_dir: Path | None = None  # a local store's folder, created on first use
    _locked: int = field(default=0, repr=False, compare=False)  # lock() depth: it is re-entrant

    @classmethod
    def connect(cls, uri: str | None, experiment: str) -> Tracker:
        uri = contract.resolve_uri(uri)
        return cls(uri, experiment, contract.check_uri(uri, existing=False))

    @property
    def is_sqlite(self) -> bool:
        return self.store_dir is not None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the sqlite store's lock file (``<db>.lock``); nothing for a server. Re-entrant
        within one tracker (the first use of the client takes it too)."""
        db = contract.sqlite_path(self.uri)
        if db is None or self._locked:
            self._locked += 1
            try:
                yield
            finally:
                self._locked -= 1
            return
        db.parent.mkdir(parents=True, exist_ok=True)
        path = db.with_name(db.name + ".lock")
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise SpecError(
                f"tracking store {self.uri}: cannot open its lock file {path} ({err.strerror}); "
                "allowed: a store in a writable folder"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except BaseException:
            os.close(handle)
            raise
        self._locked += 1
        try:
            yield
        finally:
            self._locked -= 1
            os.close(handle)  # closing releases the lock

    @functools.cached_property
    def client(self) -> Any:
        from mlflow.tracking import MlflowClient

        with self.lock():  # a new sqlite store's tables are created by one process only
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
        client = self.client
        with self.lock():
            exp = client.get_experiment_by_name(self.experiment)
            location = self.artifact_location
            if exp is None:
                try:
                    return client.create_experiment(self.experiment, artifact_location=location)
                except Exception:  # a server: another process created it first
                    exp = client.get_experiment_by_name(self.experiment)
                    if exp is None:
                        raise
                    return exp.experiment_id
            old = exp.artifact_location
            if location is not None and old != location and _local_path(old) is not None:
                db = contract.sqlite_path(self.uri)
                assert db is not None  # a local store is a sqlite store
                _relocate(db, exp.experiment_id, old, location)
            return exp.experiment_id

    def runs(self, run_key: str) -> list:
        """Every active run with this key, newest first."""
        query = f"tags.{Tag.RUN_KEY} = '{run_key}'"
        return self.client.search_runs([self.experiment_id], query, order_by=["start_time DESC"])

    def start(self, run_name: str, tags: dict[str, str], params: dict[str, str]) -> str:
        """Create a RUNNING run with ``tags`` and the params; return its id."""
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

    def adapters(self, run_id: str, model: Any) -> None:
        """Save the model's LoRA A and B as the run artifact ``contract.ADAPTERS_ARTIFACT``."""
        import tempfile

        from suite.adapters import save_file

        folder, name = os.path.split(contract.ADAPTERS_ARTIFACT)
        with tempfile.TemporaryDirectory(prefix="qbench-adapters-") as tmp:
            path = Path(tmp) / name
            save_file(model, path)
            self.client.log_artifact(run_id, str(path), folder or None)

    def tag(self, run_id: str, tags: dict[str, str]) -> None:
        """Set tags on a run (names from :func:`suite.contract.run_tags`)."""
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)

    def finish(self, run_id: str, status: str = FINISHED, error: str | None = None) -> None:
        if error:
            self.client.set_tag(run_id, Tag.ERROR, error[:4000])
        self.client.set_terminated(run_id, status)

    def fail(self, run_id: str, reason: str, error: str) -> None:
        """Mark a run FAILED with its error and its reason on one line (``failure_reason``)."""
        self.tag(run_id, {Tag.REASON: " ".join(reason.split())[:500]})
        self.finish(run_id, FAILED, error)

    def status(self, run_id: str) -> str:
        return self.client.get_run(run_id).info.status

    def delete(self, run_id: str) -> None:
        """Delete a run (MLflow's soft delete: it leaves every search and report)."""
        self.client.delete_run(run_id)


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
