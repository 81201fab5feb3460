"""LoftQ: equal to peft's LoftQ (NF4, s = 1), lowers the weight error against its bare base, and
both LoftQ and CLoQ start from the same s·B·A whatever lora_alpha is."""

from __future__ import annotations

import copy
from functools import partial
from unittest import mock

import pytest
import torch

from methods.cloq import CLoQ
from methods.loftq import LoftQ, loftq_init, loftq_init_peft
from suite.calibration import build_calibration
from suite.quant.nf import quantize_nf
from suite.quant.qtensor import dequantize
from suite.spec import Budget, CalibSpec, EvalSpec, RunSpec, TrainSpec

pytestmark = pytest.mark.usefixtures("one_thread")


def heavy_tailed(out_f=96, in_f=256, seed=0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(out_f, in_f, generator=gen) * 0.02
    outliers = torch.rand(out_f, in_f, generator=gen) < 0.01
    return torch.where(outliers, w * 8, w)


def _cpu(device):
    if isinstance(device, str) and device.split(":")[0] in ("cuda", "xpu"):
        return "cpu"
    if isinstance(device, torch.device) and device.type in ("cuda", "xpu"):
        return torch.device("cpu")
    return device


def peft_loftq(w: torch.Tensor, rank: int, iters: int):
    """peft's loftq_init, whose compute device is hard-wired to CUDA/XPU, run on the CPU."""
    from peft.utils import loftq_utils

    to = torch.Tensor.to

    def cpu_to(self, *args, **kwargs):
        args = tuple(_cpu(a) for a in args)
        if "device" in kwargs:
            kwargs["device"] = _cpu(kwargs["device"])
        return to(self, *args, **kwargs)

    with mock.patch.object(torch.Tensor, "to", cpu_to):
        return loftq_utils.loftq_init(w, num_bits=4, reduced_rank=rank, num_iter=iters)


@pytest.mark.parametrize("iters", [1, 3])
def test_matches_peft_loftq_with_nf4(iters):
    pytest.importorskip("bitsandbytes")
    w, rank = heavy_tailed(), 8
    q_peft, a_peft, b_peft = peft_loftq(w.clone(), rank, iters)
    # s = 1: peft's B·A is the correction, so the two conventions coincide
    qt, a, b = loftq_init(w, partial(quantize_nf, bits=4, group_size=64), rank, 1.0, iters)
    q = dequantize(qt)
    ours, theirs = b @ a, b_peft @ a_peft
    # Tolerance: peft's SVD runs in float32, ours in float64, so the corrections agree to ~1e-6
    # relative; at T > 1 the next step quantizes W − L, whose block absmax values then differ
    # by ~1e-7 relative, and so does every dequantized value (observed: 1e-7 and no code
    # flips). A flip needs a weight within that distance of an NF4 decision boundary: 0.1% is
    # allowed. At T = 1 both quantize W itself: identical NF4 codes and scales.
    if iters == 1:
        assert torch.equal(q, q_peft)
    assert (q - q_peft).norm() / q_peft.norm() < 1e-6
    assert ((q - q_peft).abs() > 1e-5 * q_peft.abs().max()).float().mean() < 1e-3
    assert (ours - theirs).norm() / theirs.norm() < 1e-5
    # the balanced factors match row by row up to sign (√σ on each side, as peft)
    torch.testing.assert_close(a.norm(dim=1), a_peft.norm(dim=1), rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("iters", [1, 3])
def test_peft_init_parity_option_equals_peft_exactly(tiny, iters):
    """``peft_init=true`` is peft's loftq_init bit for bit (NF4 with float32 absmax, as
    bitsandbytes stores it), and ignores s as peft does."""
    pytest.importorskip("bitsandbytes")
    w, rank = heavy_tailed(), 8
    q_peft, a_peft, b_peft = peft_loftq(w.clone(), rank, iters)
    nf4 = partial(quantize_nf, bits=4, group_size=64, scale_dtype="float32")
    qt, a, b = loftq_init_peft(w, nf4, rank, iters)
    assert torch.equal(dequantize(qt), q_peft)
    assert torch.equal(a, a_peft) and torch.equal(b, b_peft)
    # through the method, on every target layer of the model, whatever lora_alpha is
    model, _ = tiny
    method = LoftQ.from_overrides({"peft_init": "true", "iters": str(iters)})
    budget = Budget(bits=4, rank=rank, lora_alpha=16.0, scale_dtype="float32")  # s = 2
    originals = {n: m.weight.detach().clone() for n, m in model.named_modules() if "proj" in n}
    prepared = method.prepare(copy.deepcopy(model), budget, None, seed=0)
    for name, layer in list(prepared.layers().items())[:3]:
        q_ref, a_ref, b_ref = peft_loftq(originals[name].clone(), rank, iters)
        assert torch.equal(layer.base_weight(), q_ref), name
        assert torch.equal(layer.lora_A, a_ref) and torch.equal(layer.lora_B, b_ref), name
        assert layer.scaling == 2.0  # peft's forward adds s·B·A: twice the computed correction
    assert prepared.info["peft_init"] is True


@pytest.mark.parametrize(
    ("bits", "rank", "alpha"), [(4, 64, 16.0), (4, 8, 16.0), (3, 64, 64.0), (2, 16, 16.0)]
)
def test_native_lora_settings_are_quantize_save_py(bits, rank, alpha):
    """LoftQ's quantize_save.py: alpha 16 at 4 bits, alpha = r below; dropout 0.1."""
    from suite.sweep import build_sweep

    assert LoftQ.native_alpha(bits, rank) == alpha
    spec = build_sweep(methods="loftq", bits=str(bits), ranks=str(rank), models="synthetic:tiny")
    assert spec.specs[0].budget.lora_alpha == alpha
    assert spec.specs[0].train.lora_dropout == 0.1


@pytest.mark.parametrize("bits", [2, 4])
def test_loftq_lowers_the_weight_error_and_more_steps_help(bits):
    w = heavy_tailed()
    quantize = partial(quantize_nf, bits=bits, group_size=64)
    bare = (w - dequantize(quantize(w))).norm()
    errors = []
    for iters in (1, 5):
        qt, a, b = loftq_init(w, quantize, 16, 0.5, iters)
        errors.append((w - dequantize(qt) - 0.5 * b @ a).norm())
    assert errors[0] < 0.95 * bare
    assert errors[1] <= errors[0] * 1.001


@pytest.mark.parametrize("method", [LoftQ, CLoQ], ids=["loftq", "cloq"])
def test_initial_correction_does_not_change_with_lora_alpha(tiny, method):
    model, tok = tiny
    spec = RunSpec(
        "synthetic:tiny",
        method.name,
        "wikitext2",
        Budget(),
        CalibSpec(4, 64, 1),
        TrainSpec(),
        EvalSpec(),
    )
    calib = build_calibration(model, tok, spec, "cpu")
    deltas, factors = [], []
    for alpha in (4.0, 64.0):
        budget = Budget(bits=2, rank=8, lora_alpha=alpha)
        prepared = method().prepare(copy.deepcopy(model), budget, calib, seed=0)
        layers = prepared.layers()
        deltas.append({n: layer.delta() for n, layer in layers.items()})
        factors.append({n: layer.lora_B @ layer.lora_A for n, layer in layers.items()})
    for name, delta in deltas[0].items():
        assert delta.norm() > 0
        torch.testing.assert_close(deltas[1][name], delta, rtol=1e-4, atol=1e-6)
        # ...because B·A itself shrank by the ratio of the scalings
        torch.testing.assert_close(16 * factors[1][name], factors[0][name], rtol=1e-4, atol=1e-6)
