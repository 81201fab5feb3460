"""Runs as a DataFrame: ``suite.results.load_runs`` and ``qbench report --format csv|parquet|json``
select the runs the leaderboard selects (the newest FINISHED run of each run key) and carry each
run's tags, params and metrics as the store holds them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from suite.report.commands import report
from suite.results import load_runs


def expected_runs(store) -> dict[str, object]:
    """run_id -> MLflow run: per run key the FINISHED run that started last (read directly)."""
    exp = store.client.get_experiment_by_name("qbench").experiment_id
    newest: dict[str, object] = {}
    for run in store.client.search_runs([exp], max_results=1000):
        if run.info.status != "FINISHED":
            continue
        key = run.data.tags["run_key"]
        if key not in newest or run.info.start_time > newest[key].info.start_time:
            newest[key] = run
    return {run.info.run_id: run for run in newest.values()}


def test_load_runs_has_one_row_per_newest_finished_run(standard_store):
    df = load_runs(standard_store.uri, "qbench")
    want = expected_runs(standard_store)
    assert sorted(df["run_id"]) == sorted(want)
    assert (df["status"] == "FINISHED").all()
    for _, row in df.iterrows():
        run = want[row["run_id"]]
        for key, value in run.data.metrics.items():
            assert row[f"metrics.{key}"] == value
        for key, value in run.data.params.items():
            assert row[f"params.{key}"] == value
        for key, value in run.data.tags.items():
            if not key.startswith("mlflow."):
                assert row[f"tags.{key}"] == value
    assert 999.0 not in set(df["metrics.eval/wikitext2/ppl"])  # the superseded duplicate
    assert str(df["start_time"].dtype) == "datetime64[ms, UTC]" or "UTC" in str(
        df["start_time"].dtype
    )


def test_load_runs_filters_as_the_report_does(standard_store):
    df = load_runs(standard_store.uri, tasks=["gsm8k"])
    assert set(df["tags.task"]) == {"gsm8k"} and len(df) == 4
    from suite.report.store import ReportError

    with pytest.raises(ReportError, match="unknown --task 'nope'"):
        load_runs(standard_store.uri, tasks=["nope"])


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_report_writes_the_frame(standard_store, tmp_path, cli, fmt):
    res = cli(report, ["--tracking-uri", standard_store.uri, "--out", tmp_path, "--format", fmt])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "leaderboard.md").exists()
    path = tmp_path / f"runs.{fmt}"
    want = load_runs(standard_store.uri).sort_values("run_id").reset_index(drop=True)
    if fmt == "parquet":
        got = pd.read_parquet(path)
    elif fmt == "csv":
        got = pd.read_csv(path, dtype=str)
    else:
        got = pd.DataFrame(json.loads(path.read_text()))
    got = got.sort_values("run_id").reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    metric_cols = [c for c in want.columns if c.startswith("metrics.")]
    if fmt == "parquet":
        pd.testing.assert_frame_equal(got, want)
    else:
        assert list(got["run_id"]) == list(want["run_id"])
        got_metrics = got[metric_cols].astype("float64")
        pd.testing.assert_frame_equal(got_metrics, want[metric_cols])
        assert list(got["tags.method"]) == list(want["tags.method"])
