"""End to end: a sweep records complete runs, skips finished ones, and recovers from failures."""

import os
import signal
import subprocess
import sys
import time

from mlflow.tracking import MlflowClient

from suite.runner import Settings, run_sweep
from suite.sweep import build_sweep
from suite.tracking import Tracker

TINY = [
    "train.steps=3",
    "train.seq_len=64",
    "train.batch_size=2",
    "eval.seq_len=128",
    "eval.max_windows=2",
]


def runs(store, experiment="qbench", status=None):
    client = MlflowClient(store)
    exp = client.get_experiment_by_name(experiment)
    found = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in found if status is None or r.info.status == status]


def sweep(**kw):
    kw.setdefault("data", "sample")
    return build_sweep(
        models="synthetic:tiny", methods="qlora,lora16", bits="4", ranks="4", sets=TINY, **kw
    )


def test_sweep_records_complete_runs_and_skips_finished(store, tmp_path):
    tracker = Tracker.connect(store, "qbench")
    settings = Settings(cache=tmp_path / "cache", progress=False)
    summary = run_sweep(sweep(), tracker, settings)
    assert len(summary.finished) == 2 and not summary.failed
    done = runs(store, status="FINISHED")
    assert len(done) == 2
    for run in done:
        m, tags = run.data.metrics, run.data.tags
        for key in (
            "eval/wikitext2/ppl",
            "init/weight_err",
            "quant/effective_bits",
            "quant/base_bytes",
            "lora/adapter_bytes",
            "prepare/wall_s",
            "prepare/peak_mem_bytes",
            "train/wall_s",
            "train/peak_mem_bytes",
            "eval/wall_s",
            "eval/peak_mem_bytes",
            "train/tokens_per_s",
            "eval/tokens_per_s",
            "train/loss",
        ):
            assert key in m, key
        for key in (
            "method",
            "model",
            "bits",
            "group_size",
            "rank",
            "task",
            "protocol",
            "task_version",
            "data_source",
            "profile",
            "storage",
            "device",
            "qbench_version",
            "git_sha",
            "run_key",
        ):
            assert tags.get(key), key
        assert run.data.params["train.steps"] == "3"
    by_method = {r.data.tags["method"]: r for r in done}
    assert by_method["lora16"].data.metrics["init/weight_err"] == 0.0
    assert by_method["lora16"].data.tags["bits"] == "16"
    assert by_method["qlora"].data.metrics["quant/effective_bits"] < 4.6
    assert by_method["qlora"].data.tags["protocol"] == "ppl-test-128-first2"
    artifacts = {a.path for a in MlflowClient(store).list_artifacts(done[0].info.run_id)}
    assert {"spec.json", "init_layers.json", "predictions"} <= artifacts

    again = run_sweep(sweep(), tracker, settings)
    assert len(again.skipped) == 2 and not again.finished
    assert len(runs(store, status="FINISHED")) == 2


def test_a_failing_run_is_recorded_and_picked_up_again(store, tmp_path, monkeypatch):
    from tasks.wikitext2 import WikiText2

    tracker = Tracker.connect(store, "qbench")
    settings = Settings(cache=tmp_path / "cache", progress=False)
    original = WikiText2.evaluate

    def broken(self, *a, **k):
        raise RuntimeError("planted evaluation failure")

    monkeypatch.setattr(WikiText2, "evaluate", broken)
    summary = run_sweep(sweep(), tracker, settings)
    assert len(summary.failed) == 2
    failed = runs(store, status="FAILED")
    assert len(failed) == 2 and "planted evaluation failure" in failed[0].data.tags["error"]
    monkeypatch.setattr(WikiText2, "evaluate", original)
    summary = run_sweep(sweep(), tracker, settings)
    assert len(summary.finished) == 2
    assert len(runs(store, status="FINISHED")) == 2


def test_sigkill_mid_sweep_then_rerun_completes_without_duplicates(store, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "suite.cli",
        "run",
        "--model",
        "synthetic:tiny",
        "--methods",
        "qlora,lora16",
        "--bits",
        "2,3,4",
        "--rank",
        "4",
        "--tracking-uri",
        store,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-progress",
        "--data",
        "sample",
    ]
    for s in TINY:
        cmd += ["--set", s]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            if len(runs(store, status="FINISHED")) >= 1:
                break
        except Exception:
            continue
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished_before = {r.data.tags["run_key"] for r in runs(store, status="FINISHED")}
    assert 1 <= len(finished_before) < 4
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    finished = runs(store, status="FINISHED")
    keys = [r.data.tags["run_key"] for r in finished]
    assert len(keys) == len(set(keys)) == 4  # qlora x {2,3,4} + lora16 once
    assert finished_before <= set(keys)
    assert not runs(store, status="RUNNING")
