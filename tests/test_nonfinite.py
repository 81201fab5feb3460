"""A run that measured NaN or ±inf is FAILED with a one-line reason, never FINISHED."""

import math

from mlflow.tracking import MlflowClient

from suite import contract as C
from suite import runner
from suite.runner import Settings, run_sweep
from suite.sweep import build_sweep
from suite.tracking import Tracker

TINY = [
    "train.seq_len=64",
    "train.batch_size=2",
    "eval.seq_len=64",
    "eval.max_windows=1",
    "calib.n_windows=2",
    "calib.seq_len=64",
    "calib.holdout_windows=1",
]


def _runs(store):
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("qbench")
    return client.search_runs([exp.experiment_id])


def _sweep(*sets):
    return build_sweep(
        models="synthetic:tiny", methods="qlora", ranks="4", data="sample", sets=[*TINY, *sets]
    )


def test_a_diverged_training_is_failed_with_its_reason(fresh_store, tmp_path):
    store = fresh_store
    # lr 1e30 overflows the adapter weights in one step: the evaluation's perplexity is NaN
    sweep = _sweep("train.lr=1e30", "train.steps=1")
    settings = Settings(cache=tmp_path / "cache", progress=False)
    summary = run_sweep(sweep, Tracker.connect(store, "qbench"), settings)
    assert not summary.finished and len(summary.failed) == 1
    (run,) = _runs(store)
    assert run.info.status == C.FAILED
    reason = run.data.tags[C.Tag.REASON]
    assert reason.startswith(C.NONFINITE + ": ") and "eval/wikitext2/ppl=nan" in reason
    assert "\n" not in reason
    assert math.isnan(run.data.metrics["eval/wikitext2/ppl"])  # recorded, to be seen
    assert math.isfinite(run.data.metrics[C.INIT_WEIGHT_ERR])


def test_a_nonfinite_init_metric_fails_the_run_before_training(fresh_store, tmp_path, monkeypatch):
    store = fresh_store
    real = runner.prepare_model

    def planted(*args, **kwargs):
        result = real(*args, **kwargs)
        result.metrics[C.INIT_CALIB_ERR] = math.inf
        return result

    monkeypatch.setattr(runner, "prepare_model", planted)
    settings = Settings(cache=tmp_path / "cache", progress=False)
    summary = run_sweep(_sweep("train.steps=1"), Tracker.connect(store, "qbench"), settings)
    assert len(summary.failed) == 1 and C.INIT_CALIB_ERR in summary.failed[0][1]
    (run,) = _runs(store)
    assert run.info.status == C.FAILED
    assert run.data.tags[C.Tag.REASON] == f"{C.NONFINITE}: {C.INIT_CALIB_ERR}=inf"
    assert "train/wall_s" not in run.data.metrics  # it stopped before training
