"""apiq and lqlora through the harness: recorded like any method; a diverged ApiQ run fails."""

import json

import pytest
from mlflow.tracking import MlflowClient

from methods.apiq import ApiQ
from methods.apiq.train import Fault
from suite.runner import Settings, run_sweep
from suite.sweep import build_sweep
from suite.tracking import Tracker

SETS = [
    "train.steps=2",
    "train.seq_len=64",
    "train.batch_size=2",
    "eval.seq_len=128",
    "eval.max_windows=2",
    "calib.n_windows=2",
    "calib.seq_len=64",
    "calib.holdout_windows=1",
    "method.apiq.epochs=1",
    "method.lqlora.max_iterations=2",
    "method.lqlora.bits_choices=2,3",
    "method.lqlora.block_choices=64,128",
]


pytestmark = pytest.mark.usefixtures("one_thread")


def runs(store, status=None):
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("qbench")
    found = client.search_runs([exp.experiment_id], max_results=100)
    return [r for r in found if status is None or r.info.status == status]


def test_recorded_like_every_method(store, tmp_path):
    tracker = Tracker.connect(store, "qbench")
    sweep = build_sweep(
        models="synthetic:tiny", methods="apiq,lqlora", bits="2", ranks="4", sets=SETS,
        data="sample",
    )  # fmt: skip
    summary = run_sweep(sweep, tracker, Settings(cache=tmp_path / "cache", progress=False))
    assert len(summary.finished) == 2 and not summary.failed, summary.failed
    client = MlflowClient(store)
    for run in runs(store, "FINISHED"):
        m = run.data.metrics
        for key in ("init/weight_err", "init/calib_err", "quant/effective_bits", "prepare/wall_s"):
            assert key in m, key
        assert m["eval/wikitext2/ppl"] > 1
        path = client.download_artifacts(run.info.run_id, "spec.json", str(tmp_path))
        with open(path) as f:
            info = json.load(f)["method_info"]
        if run.data.tags["method"] == "lqlora":
            # an integer budget: what NF2 with block 64 and float32 absmax stores
            assert m["quant/effective_bits"] <= info["budget_bits"] < 2.52
            assert len(info["allocation"]) == 14
        else:
            assert info["config"]["epochs"] == 1 and info["rank"] == 4
            assert run.data.tags["quantizer"] == "int-lwc"
            assert m["quant/effective_bits"] < 2.6


def test_a_diverged_apiq_run_is_failed_with_the_block(store, tmp_path, monkeypatch):
    original = ApiQ.__init__

    def planted(self, config=None, quant=None):
        original(self, config, quant)
        self.fault = Fault(block=0, step=0, attempts=99)

    monkeypatch.setattr(ApiQ, "__init__", planted)
    tracker = Tracker.connect(store, "qbench")
    sweep = build_sweep(
        models="synthetic:tiny", methods="apiq", bits="2", ranks="4", sets=SETS, data="sample"
    )
    summary = run_sweep(sweep, tracker, Settings(cache=tmp_path / "cache", progress=False))
    assert len(summary.failed) == 1
    (run,) = runs(store, "FAILED")
    assert "ApiQDiverged: ApiQ diverged in block 0 (model.layers.0)" in run.data.tags["error"]
    assert not (tmp_path / "cache" / "prepared").exists() or not any(
        (tmp_path / "cache" / "prepared").iterdir()
    )  # nothing cached for a failed prepare
