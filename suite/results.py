"""Results as a pandas DataFrame: one row per run, with its tags, params and metrics.

The rows are the runs the leaderboard reads, chosen by the same rules (:mod:`suite.report.store`):
FINISHED runs only, the newest per run key, optionally only some models or tasks or runs
started since a time. Columns follow MLflow's own ``search_runs`` frames: ``run_id``,
``run_name``, ``status``, ``start_time`` (UTC), ``artifact_uri``, then ``tags.<name>``,
``params.<section.field>`` (strings) and ``metrics.<key>`` (floats; each metric's latest
value). ``qbench report --format csv|parquet|json`` writes this frame. Nothing here imports
torch.

    from suite.results import load_runs
    df = load_runs("sqlite:///results/mlflow.db", "qbench", tasks=["wikitext2"])
    df.groupby(["tags.method", "tags.bits"])["metrics.eval/wikitext2/ppl"].mean()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from suite.contract import DEFAULT_EXPERIMENT, resolve_uri
from suite.report.store import Filters, RunRecord, fetch_runs, open_client, parse_since, select

FIRST = ("run_id", "run_name", "status", "start_time", "artifact_uri")


def frame(records: Iterable[RunRecord]) -> Any:
    """The DataFrame of run records (columns as in the module doc, sorted within each kind)."""
    import pandas as pd

    rows = []
    for rec in records:
        row: dict[str, Any] = {
            "run_id": rec.run_id,
            "run_name": rec.run_name,
            "status": rec.status,
            "start_time": rec.started,
            "artifact_uri": rec.artifact_uri,
        }
        row.update({f"tags.{k}": v for k, v in rec.tags.items()})
        row.update({f"params.{k}": v for k, v in rec.params.items()})
        row.update({f"metrics.{k}": float(v) for k, v in rec.metrics.items()})
        rows.append(row)
    columns = list(FIRST)
    found = sorted({c for row in rows for c in row} - set(FIRST))
    for kind in ("tags.", "params.", "metrics."):
        columns += [c for c in found if c.startswith(kind)]
    df = pd.DataFrame(rows, columns=columns)
    df["start_time"] = pd.to_datetime(df["start_time"], utc=True)
    metric_cols = [c for c in columns if c.startswith("metrics.")]
    df[metric_cols] = df[metric_cols].astype("float64")
    return df


def load_runs(
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    *,
    models: Iterable[str] = (),
    tasks: Iterable[str] = (),
    since: str | None = None,
) -> Any:
    """One row per selected run of ``experiment`` (newest FINISHED run per run key).

    ``tracking_uri`` defaults as for ``qbench report`` ($MLFLOW_TRACKING_URI, else
    ``sqlite:///results/mlflow.db``); ``since`` is a date or a duration (``7d``). An unknown
    store, experiment, model or task raises :class:`suite.report.store.ReportError`.
    """
    uri = resolve_uri(tracking_uri)
    client = open_client(uri)
    filters = Filters(
        models=tuple(models), tasks=tuple(tasks), since=parse_since(since) if since else None
    )
    selection = select(fetch_runs(client, experiment), experiment, uri, filters)
    return frame(selection.records)
