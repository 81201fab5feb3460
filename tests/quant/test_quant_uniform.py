from __future__ import annotations

import pytest
import torch

from suite.quant.qtensor import dequantize
from suite.quant.uniform import IntQuantizer, quantize_int


def _w(shape=(32, 256), seed=0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group_size", [32, 64, 256])
def test_within_half_a_step_and_span_kept(bits: int, group_size: int) -> None:
    w = _w()
    qt = quantize_int(w, bits, group_size)
    ng = 256 // group_size
    g = w.view(32, ng, group_size)
    back = dequantize(qt).view(32, ng, group_size)
    step = qt.scales.unsqueeze(-1)
    assert torch.all((back - g).abs() <= step / 2 * (1 + 1e-5))
    # Gaussian groups straddle 0, so min and max map to codes 0 and 2**bits - 1: span kept
    codes = qt.unpacked_codes().view(32, ng, group_size)
    assert torch.all(codes.amin(-1) == 0) and torch.all(codes.amax(-1) == (1 << bits) - 1)
    span, span_back = g.amax(-1) - g.amin(-1), back.amax(-1) - back.amin(-1)
    torch.testing.assert_close(span_back, span, rtol=1e-5, atol=0)
    assert torch.all((back.amin(-1) - g.amin(-1)).abs() <= qt.scales / 2 * (1 + 1e-5))


def test_error_decreases_with_bits() -> None:
    w = _w(seed=1)
    errs = [float((dequantize(quantize_int(w, b, 64)) - w).norm()) for b in (2, 3, 4, 8)]
    assert errs[0] > errs[1] > errs[2] > errs[3] > 0
    # each extra bit roughly halves the error
    assert errs[1] / errs[0] < 0.6 and errs[2] / errs[1] < 0.6


def test_zero_is_exact_and_zero_groups() -> None:
    w = _w((8, 128), seed=2)
    w[:, ::7] = 0.0
    w[3] = 0.0
    w[5, 64:] = torch.rand(64) + 1.0  # a group of positive values only
    back = dequantize(quantize_int(w, 3, 64))
    assert torch.all(back[w == 0] == 0)
    assert torch.all(back[3] == 0)


def test_clip_shrinks_range() -> None:
    w = _w((16, 128), seed=3)
    full = quantize_int(w, 4, 64)
    clip = torch.full((16, 2), 0.5)
    clipped = quantize_int(w, 4, 64, clip=clip)
    torch.testing.assert_close(clipped.scales, full.scales * 0.5, rtol=1e-6, atol=0)
    back = dequantize(clipped).view(16, 2, 64)
    g = w.view(16, 2, 64)
    half_step = clipped.scales.unsqueeze(-1) / 2 * (1 + 1e-5)
    assert torch.all(back <= 0.5 * g.amax(-1, keepdim=True) + half_step)
    assert torch.all(back >= 0.5 * g.amin(-1, keepdim=True) - half_step)
    # float clip is the same as a constant tensor
    assert torch.equal(quantize_int(w, 4, 64, clip=0.5).codes, clipped.codes)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        quantize_int(w, 4, 64, clip=1.5)
    with pytest.raises(ValueError, match="broadcast"):
        quantize_int(w, 4, 64, clip=torch.ones(3))


def test_half_scales_are_used_as_stored() -> None:
    w = _w(seed=4)
    qt = quantize_int(w, 3, 64, scale_dtype=torch.float16)
    assert qt.scales.dtype == torch.float16
    back = dequantize(qt).view(32, 4, 64)
    step = qt.scales.float().unsqueeze(-1)
    assert torch.all((back - w.view(32, 4, 64)).abs() <= step / 2 * (1 + 1e-5))


def test_quantizer_object() -> None:
    q = IntQuantizer()
    assert q.name == "int"
    w = _w(seed=5)
    ref = quantize_int(w, 2, 64, scale_dtype=torch.float16)  # the budget's dtype
    assert torch.equal(q.quantize(w, 2, 64).codes, ref.codes)
