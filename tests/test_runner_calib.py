"""End to end: cloq, gptq-lora and loftq run through the harness and every method gets
init/calib_err; whether a run calibrates follows the quantizer it runs with."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from tiny_settings import TINY as TINY_SETS

from methods.loftq import LoftQ
from methods.qlora import QLoRA
from suite.calibration import build_calibration
from suite.context import RunContext
from suite.runner import Settings, prepare_key, run_sweep
from suite.spec import Budget, CalibSpec, EvalSpec, RunSpec, SpecError, TrainSpec
from suite.sweep import build_sweep
from suite.tracking import Tracker

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = [*TINY_SETS, "calib.n_windows=8", "calib.seq_len=64"]


@pytest.fixture
def small_data(tmp_path):
    """A WikiText-2 directory source: the start of each sample split (fast to tokenize)."""
    from tasks.base import DATA_DIR

    root = tmp_path / "data" / "wikitext2"
    root.mkdir(parents=True)
    for name, chars in (("train", 40_000), ("valid", 6_000), ("test", 6_000)):
        text = (DATA_DIR / "wikitext2" / f"wiki.{name}.raw").read_text(encoding="utf-8")
        (root / f"wiki.{name}.raw").write_text(text[:chars], encoding="utf-8")
    return str(tmp_path / "data")


def test_calibrating_methods_run_end_to_end_with_calib_err(store, tmp_path, small_data):
    sweep = build_sweep(
        models="synthetic:tiny",
        methods="cloq,gptq-lora,loftq,qlora",
        bits="2",
        ranks="4",
        data=small_data,
        sets=TINY,
    )
    tracker = Tracker.connect(store, "qbench")
    summary = run_sweep(sweep, tracker, Settings(cache=tmp_path / "cache", progress=False))
    assert not summary.failed and len(summary.finished) == 4
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("qbench")
    runs = {r.data.tags["method"]: r for r in client.search_runs([exp.experiment_id])}
    assert {m: r.data.tags["quantizer"] for m, r in runs.items()} == {
        "cloq": "magr-gptq",
        "gptq-lora": "magr-gptq",
        "loftq": "nf",
        "qlora": "nf",
    }
    for method, run in runs.items():
        m = run.data.metrics
        assert 0 < m["init/calib_err"] < 1.5 and math.isfinite(m["init/weight_err"]), method
        assert run.info.status == "FINISHED"
        local = client.download_artifacts(run.info.run_id, "init_layers.json", str(tmp_path))
        table = json.loads(Path(local).read_text())
        assert len(table) == 14 and all(row["calib_err"] is not None for row in table)
        mean = sum(row["calib_err"] for row in table) / len(table)
        assert mean == pytest.approx(m["init/calib_err"])
    # gptq-lora starts as its MagR + GPTQ base: no adapter, so its init error is the base's, and
    # loftq's adapter lowers the error of its NF base (qlora's, the same NF2 base without one)
    assert (
        runs["loftq"].data.metrics["init/weight_err"]
        < runs["qlora"].data.metrics["init/weight_err"]
    )
    # the held-out Gram matrices were computed once and shared by the four runs
    assert len(list((tmp_path / "cache" / "calib").iterdir())) == 1


def specs(method: str, quantizer: str | None, seed: int) -> RunSpec:
    sweep = build_sweep(
        models="synthetic:tiny",
        methods=method,
        bits="2",
        ranks="4",
        sets=[f"calib.seed={seed}"] + ([f"budget.quantizer={quantizer}"] if quantizer else []),
    )
    return sweep.specs[0]


def test_calibration_follows_the_quantizer(tmp_path):
    ctx = RunContext.create(Settings(cache=tmp_path, device="cpu"), "quick")

    def key(spec):
        return prepare_key(ctx, spec)

    # LoftQ's own NF base needs no data: its prepared model does not depend on calib.*
    assert key(specs("loftq", None, 0)) == key(specs("loftq", None, 1))
    # with a GPTQ base it does, and so does qlora's; cloq always calibrates
    for method, quantizer in (("loftq", "gptq"), ("qlora", "gptq"), ("cloq", "nf")):
        a, b = specs(method, quantizer, 0), specs(method, quantizer, 1)
        assert key(a) != key(b), method
    # NF has an 8-bit code book (LQ-LoRA's search space), so cloq on an NF8 base is a valid spec
    assert specs("cloq", "nf", 0).budget.quantizer == "nf"
    build_sweep(models="synthetic:tiny", methods="cloq", bits="8", quantizer="nf")
    with pytest.raises(SpecError, match="unknown quantizer"):
        build_sweep(models="synthetic:tiny", methods="loftq", bits="2", quantizer="awq")


def test_loftq_and_qlora_on_a_gptq_base(tiny):
    model, tok = tiny
    spec = RunSpec(
        "synthetic:tiny",
        "loftq",
        "wikitext2",
        Budget(),
        CalibSpec(4, 64, 1),
        TrainSpec(),
        EvalSpec(),
    )
    calib = build_calibration(model, tok, spec, "cpu")
    budget = Budget(bits=2, rank=4, quantizer="gptq")
    with pytest.raises(SpecError, match="need calibration data"):
        LoftQ().prepare(copy.deepcopy(model), budget, None, seed=0)
    loftq = LoftQ().prepare(copy.deepcopy(model), budget, calib, seed=0)
    qlora = QLoRA().prepare(copy.deepcopy(model), budget, calib, seed=0)
    assert loftq.quantizer == qlora.quantizer == "gptq"
    for name, layer in loftq.layers().items():
        base = qlora.layers()[name]
        assert layer.qtensor().scheme == "int"
        assert layer.delta().norm() > 0 and base.delta().norm() == 0
        same = torch.equal(layer.base_weight(), base.base_weight())
        # T = 1: in the first block LoftQ's base is the very GPTQ base qlora got; later blocks
        # see the processed blocks' outputs, adapters included, so their Grams (and bases) differ
        assert same == name.startswith("model.layers.0."), name
