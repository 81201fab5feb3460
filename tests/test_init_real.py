"""On real SmolLM2-135M layers with real calibration text (the first block's seven layers, 32 x 256
calibration tokens, 8 x 256 held out): GPTQ beats round-to-nearest on the same grid, CLoQ beats
LoftQ and each beats its own bare base, and on a shared base CLoQ's init is never worse than
LoftQ's single SVD step on any layer (on the calibration tokens, the objective CLoQ solves).

Observed here (rank 16, s = 2), mean held-out calib_err at 2 / 3 bits: GPTQ 0.198 / 0.079 vs
INT RTN 0.337 / 0.155; CLoQ 0.163 / 0.065 vs LoftQ 0.351 / 0.138 (its NF base 0.408 / 0.152).
With only 8 x 256 calibration tokens (two blocks) CLoQ's edge over an SVD step on the same GPTQ
base vanished on held-out tokens for the MLP layers (it fits the calibration inputs: down_proj
reads 1536 features from 2048 tokens); with 32 x 256 it held on every layer.
"""

from __future__ import annotations

import pytest
import torch

from methods.cloq import cloq_correction, gram_root
from methods.loftq import loftq_init
from suite.calibration import build_calibration, walk
from suite.holdout import relative_error
from suite.lora import split_correction
from suite.quant.gptq import run_gptq
from suite.quant.nf import quantize_nf
from suite.quant.qtensor import dequantize
from suite.quant.uniform import quantize_int
from suite.spec import Budget, CalibSpec, EvalSpec, RunSpec, TrainSpec

pytestmark = pytest.mark.usefixtures("one_thread")

RANK, SCALING = 16, 2.0


@pytest.fixture(scope="module")
def layers(smollm2_path, one_thread):
    """{name: (W, H on calibration tokens, H on held-out tokens, R)} of the first block."""
    from suite import models

    cache = smollm2_path.parent.parent
    model, tok = models.load(models.resolve("smollm2-135m"), cache, "cpu", torch.float32)
    model.model.layers = model.model.layers[:1]
    calib_spec = CalibSpec(n_windows=32, seq_len=256, holdout_windows=8)
    spec = RunSpec(
        "smollm2-135m", "cloq", "wikitext2", Budget(), calib_spec, TrainSpec(), EvalSpec()
    )
    calib = build_calibration(model, tok, spec, "cpu", batch_size=8)
    out, roots = {}, {}
    for cal, hold in zip(
        walk(model, calib.windows, "cpu", 8), walk(model, calib.holdout, "cpu", 8), strict=True
    ):
        grams, held = cal.grams(), hold.grams()
        for name, linear in cal.linears().items():
            h = grams[name]
            if id(h) not in roots:
                roots[id(h)] = gram_root(h)
            out[name] = (linear.weight.detach().float(), h, held[name], roots[id(h)])
    return out, {}


def gptq_bases(layers, cache, bits):
    if bits not in cache:
        cache[bits] = {n: run_gptq(w, h, bits, 64).weight for n, (w, h, _, _) in layers.items()}
    return cache[bits]


def err(w, approx, h) -> float:
    return relative_error(w, w - approx, h)


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


@pytest.mark.parametrize("bits", [2, 3])
def test_gptq_beats_round_to_nearest_on_the_same_grid(layers, bits):
    layers, cache = layers
    gptq = gptq_bases(layers, cache, bits)
    rtn = {n: dequantize(quantize_int(w, bits, 64)) for n, (w, *_) in layers.items()}
    for name, (w, h, _, _) in layers.items():
        assert err(w, gptq[name], h) < 0.8 * err(w, rtn[name], h), name
    held_gptq = mean(err(w, gptq[n], hh) for n, (w, _, hh, _) in layers.items())
    held_rtn = mean(err(w, rtn[n], hh) for n, (w, _, hh, _) in layers.items())
    assert held_gptq < 0.8 * held_rtn


@pytest.mark.parametrize("bits", [2, 3])
def test_cloq_beats_loftq_and_both_beat_their_bases(layers, bits):
    layers, cache = layers
    gptq = gptq_bases(layers, cache, bits)
    held = {k: [] for k in ("cloq", "gptq", "loftq", "nf", "svd_on_gptq")}
    for name, (w, h, hh, root) in layers.items():
        q_g = gptq[name]
        cloq = q_g + cloq_correction(w, q_g, root, RANK).float()
        qt, a, b = loftq_init(w, lambda m: quantize_nf(m, bits, 64), RANK, SCALING, iters=1)
        q_n = dequantize(qt)
        loftq = q_n + SCALING * b @ a
        a2, b2 = split_correction(w - q_g, RANK, SCALING)
        svd_on_gptq = q_g + SCALING * b2 @ a2
        for key, approx in (("cloq", cloq), ("gptq", q_g), ("loftq", loftq), ("nf", q_n)):
            held[key].append(err(w, approx, hh))
        held["svd_on_gptq"].append(err(w, svd_on_gptq, hh))
        # the same base: CLoQ's init is never worse than LoftQ's SVD step, on either base
        assert err(w, cloq, h) <= err(w, svd_on_gptq, h), name
        cloq_on_nf = q_n + cloq_correction(w, q_n, root, RANK).float()
        assert err(w, cloq_on_nf, h) <= err(w, loftq, h), name
    m = {k: mean(v) for k, v in held.items()}
    assert m["cloq"] < m["loftq"]
    assert m["cloq"] < m["gptq"] and m["loftq"] < m["nf"]
    assert m["cloq"] < m["svd_on_gptq"]
