"""Coordinate-descent refinement after GPTQ: monotone, and one pass equal to a plain reference.

The reference pass below is written out plainly from the MagR authors' formulation (their
``optq.py``: P = W·Σ̂, P̂ from the current codes, column by column u = P_j − P̂_j + Σ_{i<j} …),
on the QTensor's fixed grid and without their absolute 0.1 in the denominator (the two
documented differences); it shares no code with :mod:`suite.quant.refine`.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import correlated_inputs, out_err

from suite.quant.config import GPTQSettings, MagRSettings
from suite.quant.gptq import GPTQQuantizer, gptq_quantize
from suite.quant.magr import MagRGPTQQuantizer, magr
from suite.quant.qtensor import dequantize
from suite.quant.refine import coordinate_descent, damped_objective


@pytest.fixture(scope="module")
def layer():
    x = correlated_inputs(1024, 128, 24, seed=7)
    x[:, 9] = 0.0  # a dead input
    w = torch.randn(24, 128, generator=torch.Generator().manual_seed(8))
    return x, x.T @ x, w


def reference_pass(w, q, h, scales, zeros, bits, group_size, damp):
    """One pass of the authors' column loop on a fixed INT grid, float64."""
    W, Q, XtX = w.double(), q.double(), h.double().clone()
    maxq = 2**bits - 1
    diag_sigma = torch.diagonal(XtX, 0)
    diag_sigma += damp * torch.mean(torch.diagonal(XtX))
    norm_sigma = torch.div(XtX, diag_sigma)
    P = torch.matmul(W, norm_sigma)
    norm_sigma.fill_diagonal_(0)
    norm_sigma = norm_sigma.t()
    Q_cd = Q.clone()
    delta_Q = Q_cd.clone().t()
    P_hat = torch.matmul(norm_sigma, delta_Q).t()
    for j in range(W.shape[1]):
        if diag_sigma[j] == 0:  # a dead input without damping: left as it is (as ours)
            continue
        u = P[:, j] - P_hat[:, j]
        if j > 0:
            u += torch.matmul(norm_sigma[j, :j], delta_Q[:j, :])
        scale = scales[:, j // group_size].double()
        zero = zeros[:, j // group_size].double()
        code = torch.clamp(torch.round(u / scale) + zero, 0, maxq)
        Q_cd[:, j] = ((code.float() - zero.float()) * scale.float()).double()
        delta_Q[j, :] -= Q_cd[:, j]
    return Q_cd.float()


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("damp", [0.0, 0.75])
def test_one_pass_equals_the_plain_reference(layer, bits, damp) -> None:
    _, h, w = layer
    qt = gptq_quantize(w, h, bits, 64)
    ours = dequantize(coordinate_descent(w, h, qt, passes=1, damp=damp))
    ref = reference_pass(w, dequantize(qt), h, qt.scales, qt.zeros, bits, 64, damp)
    assert torch.equal(ours, ref)
    assert not torch.equal(ours, dequantize(qt))  # the pass changed something


@pytest.mark.parametrize("scheme", ["int", "nf"])
@pytest.mark.parametrize("bits", [2, 3, 4])
def test_refinement_never_increases_the_output_error(layer, scheme, bits) -> None:
    x, h, w = layer
    qt = gptq_quantize(w, h, bits, 64, scheme=scheme)
    errors = [out_err(x, w, dequantize(qt))]
    objective = [damped_objective(w, dequantize(qt), h, 0.75)]
    plain, damped = qt, qt
    for _ in range(4):
        plain = coordinate_descent(w, h, plain, passes=1, damp=0.0)
        errors.append(out_err(x, w, dequantize(plain)))
        damped = coordinate_descent(w, h, damped, passes=1, damp=0.75)
        objective.append(damped_objective(w, dequantize(damped), h, 0.75))
    # damp 0: the objective is the output error itself; damp 0.75: the damped objective
    assert all(b <= a * (1 + 1e-6) for a, b in zip(errors, errors[1:], strict=False))
    assert all(b <= a * (1 + 1e-9) for a, b in zip(objective, objective[1:], strict=False))
    assert errors[-1] < errors[0]
    # only codes change: the grid is the QTensor's own, so the weights stay exactly stored
    assert torch.equal(plain.scales, qt.scales)
    if scheme == "int":
        assert torch.equal(plain.zeros, qt.zeros)


def test_passes_compose_and_validate(layer) -> None:
    _, h, w = layer
    qt = gptq_quantize(w, h, 2, 64)
    twice = coordinate_descent(w, h, coordinate_descent(w, h, qt, 1), 1)
    assert torch.equal(coordinate_descent(w, h, qt, 2).codes, twice.codes)
    assert coordinate_descent(w, h, qt, 0) is qt
    with pytest.raises(ValueError, match="passes=-1 is not allowed"):
        coordinate_descent(w, h, qt, -1)
    with pytest.raises(ValueError, match="do not fit"):
        coordinate_descent(w[:, :64], h, qt, 1)


def test_gptq_quantizer_refines_with_its_settings(layer) -> None:
    _, h, w = layer
    quantizer = GPTQQuantizer(cd_passes=2, cd_damp=0.5)
    base = gptq_quantize(w, h, 2, 64, scale_dtype=torch.float16)  # the budget's dtype
    expected = coordinate_descent(w, h, base, 2, 0.5)
    assert torch.equal(quantizer.quantize(w, 2, 64, gram=h).codes, expected.codes)


def test_magr_gptq_refines_towards_the_original_weights(layer) -> None:
    x, h, w = layer
    w = w * 0.02
    settings = MagRSettings(alpha=1e-3, iters=30)
    gptq = GPTQSettings(cd_passes=1)
    qt = MagRGPTQQuantizer(settings, gptq).quantize(w, 2, 64, gram=h)
    shrunk = magr(w, h, settings.alpha, settings.iters, 64)
    plain = GPTQQuantizer(**dataclasses.asdict(GPTQSettings()))
    base = plain.quantize(shrunk, 2, 64, gram=h)
    assert torch.equal(qt.codes, coordinate_descent(w, h, base, 1, gptq.cd_damp).codes)
    assert not torch.equal(qt.codes, coordinate_descent(shrunk, h, base, 1, gptq.cd_damp).codes)
