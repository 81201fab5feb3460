from __future__ import annotations

import pytest
import torch
from conftest import decaying_inputs, out_err

from suite.quant.config import MagRSettings
from suite.quant.gptq import run_gptq
from suite.quant.magr import magr, project_l1_ball, prox_linf
from suite.quant.qtensor import dequantize
from suite.quant.uniform import quantize_int


@pytest.fixture(scope="module")
def setup():
    """A 128 x 256 layer with LLM-like weights (a few large outliers) and decaying inputs."""
    x = decaying_inputs(2048, 256, seed=0)
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(128, 256, generator=gen) * 0.02
    w.view(-1)[torch.randint(0, w.numel(), (50,), generator=gen)] *= 8.0
    h = x.T @ x
    return x, h, w, magr(w, h)


def test_l1_projection_is_the_soft_threshold_onto_the_ball() -> None:
    v = torch.randn(20, 50, generator=torch.Generator().manual_seed(0)).double()
    v[:5] *= 0.05  # these rows lie inside the ball and stay as they are
    radius = 3.0
    p = project_l1_ball(v, radius)
    inside = v.abs().sum(1) <= radius
    assert inside.sum() == 5
    assert torch.equal(p[inside], v[inside])
    # outside the ball: sign(v)·max(|v| − θ, 0) with θ the root of Σ max(|v| − θ, 0) = radius,
    # found here by bisection, independently of the sort-based formula
    lo, hi = torch.zeros(20, 1, dtype=v.dtype), v.abs().amax(1, keepdim=True)
    for _ in range(100):
        mid = (lo + hi) / 2
        over = (v.abs() - mid).clamp_min(0).sum(1, keepdim=True) > radius
        lo, hi = torch.where(over, mid, lo), torch.where(over, hi, mid)
    expected = torch.sign(v) * (v.abs() - lo).clamp_min(0)
    torch.testing.assert_close(p[~inside], expected[~inside])


def test_linf_prox_clips_at_the_threshold() -> None:
    v = torch.randn(10, 30, generator=torch.Generator().manual_seed(1))
    out = prox_linf(v, 2.0)
    # Moreau: the prox clips every row to [-t, t], where the clipped-off mass equals alpha
    t = out.abs().amax(1, keepdim=True)
    torch.testing.assert_close(out, v.clamp(-t, t))
    torch.testing.assert_close((v.abs() - t).clamp_min(0).sum(1), torch.full((10,), 2.0))
    small = torch.full((1, 30), 0.01)  # ‖v‖₁ ≤ alpha: the prox is 0
    assert torch.all(prox_linf(small, 2.0) == 0)


def test_magr_lowers_row_max_and_keeps_outputs(setup) -> None:
    x, _, w, w2 = setup
    ratio = w2.abs().amax(1) / w.abs().amax(1)
    # observed: mean 0.58, worst row 0.73
    assert torch.all(ratio < 0.9) and ratio.mean() < 0.7
    # observed: 2.3% relative output change
    assert out_err(x, w, w2) < 0.05


@pytest.mark.parametrize("bits", [2, 3])
def test_magr_then_quantize_is_not_worse_on_the_original_outputs(setup, bits) -> None:
    x, h, w, w2 = setup
    rtn, rtn_magr = (out_err(x, w, dequantize(quantize_int(v, bits, 64))) for v in (w, w2))
    gptq, gptq_magr = (out_err(x, w, run_gptq(v, h, bits, 64).weight) for v in (w, w2))
    # observed at 2 bits: RTN 0.459 -> 0.387, GPTQ 0.221 -> 0.189; at 3 bits: RTN 0.210 -> 0.177,
    # GPTQ 0.081 -> 0.070 (at 4 bits GPTQ goes 0.036 -> 0.038, so 4 bits is not asserted)
    assert rtn_magr < rtn and gptq_magr < 1.02 * gptq


def test_groupwise_variant_lowers_group_max(setup) -> None:
    x, h, w, _ = setup
    settings = MagRSettings()  # the authors' group-wise defaults, as magr-gptq runs them
    w2 = magr(w, h, alpha=settings.alpha, iters=settings.iters, group_size=64)
    ratio = w2.view(128, 4, 64).abs().amax(-1) / w.view(128, 4, 64).abs().amax(-1)
    # observed: mean 0.83, worst group 0.97, output change 0.8% (the per-row variant lowers
    # each row's max but can raise a group's: worst group 1.25 there)
    assert torch.all(ratio <= 1.0 + 1e-6) and ratio.mean() < 0.95
    assert out_err(x, w, w2) < 0.02


def test_magr_validates_and_keeps_dtype(setup) -> None:
    _, h, w, _ = setup
    assert magr(w.bfloat16(), h, iters=2).dtype == torch.bfloat16
    assert torch.equal(magr(w, h, iters=0), w)
    assert torch.equal(magr(w, torch.zeros_like(h)), w)
    with pytest.raises(ValueError, match="alpha"):
        magr(w, h, alpha=0.0)
    with pytest.raises(ValueError, match="gram"):
        magr(w, h[:5])
    with pytest.raises(ValueError, match="group_size=48"):
        magr(w, h, group_size=48)
