"""Every method and the Calibrator on the second built-in architecture, Gemma 3 270M: each run
of a small sweep finishes and records its init and evaluation metrics (slow: the model is
pulled from four chunk packages and converted once)."""

import math

import pytest
from mlflow.tracking import MlflowClient

from suite.registry import methods
from suite.runner import Settings, run_sweep
from suite.sweep import build_sweep
from suite.tracking import Tracker

SETS = [
    "train.steps=2",
    "train.seq_len=64",
    "train.batch_size=2",
    "eval.seq_len=128",
    "eval.max_windows=1",
    "calib.n_windows=2",
    "calib.seq_len=64",
    "calib.holdout_windows=1",
    "method.apiq.epochs=1",
    "method.lqlora.max_iterations=2",
    "method.lqlora.bits_choices=2,3",
    "method.lqlora.block_choices=64,128",
]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def test_every_method_runs_on_gemma3(gemma3_path, store):
    names = ",".join(methods())
    sweep = build_sweep(
        models="gemma3-270m", methods=names, bits="2", ranks="8", sets=SETS, data="sample"
    )
    cache = gemma3_path.parents[1]
    summary = run_sweep(sweep, Tracker.connect(store, "qbench"), Settings(cache, progress=False))
    assert not summary.failed, summary.failed
    assert len(summary.finished) == len(methods())
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("qbench")
    for run in client.search_runs([exp.experiment_id]):
        m = run.data.metrics
        assert math.isfinite(m["eval/wikitext2/ppl"]), run.data.tags["method"]
        if run.data.tags["method"] != "lora16":
            assert 0 < m["init/weight_err"] < 1 and m["init/calib_err"] > 0, run.data.tags
