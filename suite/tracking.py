"""MLflow recording: one run per RunSpec, found again by its run key.

A run is created RUNNING with its tags and params, receives metrics and artifacts, and is marked
FINISHED only after everything is written, so a FINISHED run is always complete. A run that
raises is marked FAILED with its error; a run left RUNNING by a killed process is marked FAILED
("interrupted") by the next sweep, which then runs that spec again.

    >>> # tracker = Tracker.connect("sqlite:///results/mlflow.db", "qbench")
    >>> # tracker.finished("0123456789abcdef")  # -> run id or None
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.spec import SpecError

DEFAULT_URI = "sqlite:///results/mlflow.db"


def resolve_uri(uri: str | None) -> str:
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def check_uri(uri: str) -> Path | None:
    """Fail with a one-line SpecError if the store cannot be used; return a local store's dir."""
    allowed = "allowed: sqlite:///PATH.db, or the http(s) address of a running MLflow server"
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        parent = db.parent if str(db.parent) else Path(".")
        probe = parent
        while not probe.exists():
            probe = probe.parent
        if not os.access(probe, os.W_OK):
            raise SpecError(f"tracking store {uri} is not writable; {allowed}")
        if db.exists() and db.stat().st_size and db.read_bytes()[:16] != b"SQLite format 3\x00":
            raise SpecError(f"tracking store {uri} is not an SQLite database; {allowed}")
        return parent
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as resp:
                resp.read(64)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise SpecError(f"tracking server {uri} is unreachable ({reason}); {allowed}") from None
        return None
    raise SpecError(f"tracking URI '{uri}' is not supported; {allowed}")


@dataclass
class Tracker:
    uri: str
    experiment: str
    experiment_id: str
    client: Any

    @classmethod
    def connect(cls, uri: str | None, experiment: str) -> Tracker:
        uri = resolve_uri(uri)
        store_dir = check_uri(uri)
        if store_dir is not None:
            store_dir.mkdir(parents=True, exist_ok=True)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            location = None
            if store_dir is not None:
                location = (store_dir.resolve() / "mlartifacts" / experiment).as_uri()
            exp_id = client.create_experiment(experiment, artifact_location=location)
        else:
            exp_id = exp.experiment_id
        return cls(uri, experiment, exp_id, client)

    def _search(self, run_key: str, status: str | None = None) -> list:
        query = f"tags.run_key = '{run_key}'"
        if status:
            query += f" and attributes.status = '{status}'"
        return self.client.search_runs([self.experiment_id], query, order_by=["start_time DESC"])

    def finished(self, run_key: str) -> str | None:
        """The id of the newest FINISHED run with this key, or None."""
        runs = self._search(run_key, "FINISHED")
        return runs[0].info.run_id if runs else None

    def reap_interrupted(self, run_key: str) -> int:
        """Mark RUNNING runs of this key whose process is gone as FAILED; return how many."""
        host = socket.gethostname()
        reaped = 0
        for run in self._search(run_key, "RUNNING"):
            tags = run.data.tags
            if tags.get("host") == host and _alive(tags.get("pid", "")):
                continue
            self.client.set_tag(run.info.run_id, "error", "interrupted: its process ended")
            self.client.set_terminated(run.info.run_id, "FAILED")
            reaped += 1
        return reaped

    def start(self, run_name: str, tags: dict[str, str], params: dict[str, str]) -> str:
        tags = {**tags, "host": socket.gethostname(), "pid": str(os.getpid())}
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

    def finish(self, run_id: str, status: str = "FINISHED", error: str | None = None) -> None:
        if error:
            self.client.set_tag(run_id, "error", error[:4000])
        self.client.set_terminated(run_id, status)


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
