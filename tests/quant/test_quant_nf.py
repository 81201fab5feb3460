from __future__ import annotations

import pytest
import torch

from suite.quant.nf import NFQuantizer, nf_codebook, quantize_nf
from suite.quant.qtensor import dequantize


def _weights(shape: tuple[int, int], seed: int, outliers: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=gen) * 0.02
    if outliers:
        idx = torch.randint(0, w.numel(), (outliers,), generator=gen)
        w.view(-1)[idx] *= 40.0
    return w


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_codebook_is_normal_float(bits: int) -> None:
    cb = nf_codebook(bits)
    assert cb.dtype == torch.float32 and cb.numel() == 1 << bits
    assert torch.all(cb[1:] > cb[:-1])
    assert cb[0] == -1.0 and cb[-1] == 1.0 and (cb == 0).sum() == 1
    # asymmetric: one more positive value than negative ones
    assert (cb > 0).sum() == (1 << (bits - 1)) and (cb < 0).sum() == (1 << (bits - 1)) - 1


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_codes_are_nearest(bits: int) -> None:
    w = _weights((16, 128), seed=bits, outliers=4)
    qt = quantize_nf(w, bits, 32)
    scaled = w.view(16, 4, 32) / qt.scales.unsqueeze(-1)
    dist = (scaled.unsqueeze(-1) - qt.codebook).abs()
    chosen = dist.gather(-1, qt.unpacked_codes().view(16, 4, 32, 1).long()).squeeze(-1)
    assert torch.all(chosen <= dist.amin(-1) + 1e-6)
    assert torch.equal(qt.scales, w.view(16, 4, 32).abs().amax(-1))


def test_zero_group_and_sign_exactness() -> None:
    w = _weights((4, 128), seed=3)
    w[1, :64] = 0.0
    qt = quantize_nf(w, 4, 64)
    back = dequantize(qt)
    assert torch.all(back[1, :64] == 0)
    # each group's absmax element is reproduced exactly (it maps to code ±1)
    g = w.view(4, 2, 64)
    idx = g.abs().argmax(-1, keepdim=True)
    assert torch.equal(back.view(4, 2, 64).gather(-1, idx), g.gather(-1, idx))


def test_quantizer_object() -> None:
    w = _weights((8, 64), seed=5)
    q = NFQuantizer()
    assert q.name == "nf"
    qt = q.quantize(w, 3, 64, gram=None)
    assert qt.scheme == "nf" and qt.bits == 3
    assert torch.equal(q.dequantize(qt), dequantize(qt))
    with pytest.raises(ValueError, match="quant.nf.scale_dtype 'int8' is not allowed"):
        NFQuantizer(scale_dtype="int8")


@pytest.fixture(scope="module")
def bnb():
    return pytest.importorskip("bitsandbytes.functional")


class TestAgainstBitsandbytes:
    def test_nf4_codebook_equals_bitsandbytes(self, bnb) -> None:
        assert torch.equal(nf_codebook(4), bnb.get_4bit_type("nf4", device="cpu").float())

    @pytest.mark.parametrize(
        ("shape", "outliers"), [((64, 128), 0), ((33, 192), 0), ((128, 512), 20), ((7, 64), 3)]
    )
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
    def test_nf4_matches_bitsandbytes(self, bnb, shape, outliers, dtype) -> None:
        w = _weights(shape, seed=shape[0], outliers=outliers)
        w[0, :64] = 0.0  # an all-zero block
        w = w.to(dtype)
        qt = quantize_nf(w, 4, 64)
        packed, state = bnb.quantize_4bit(
            w, blocksize=64, quant_type="nf4", compress_statistics=False
        )
        assert torch.equal(qt.codes, packed.flatten())
        assert torch.equal(qt.scales.flatten(), state.absmax)
        ref_codes = torch.stack([packed.flatten() >> 4, packed.flatten() & 15], 1).flatten()
        assert torch.equal(qt.unpacked_codes().flatten(), ref_codes)
        theirs = bnb.dequantize_4bit(packed, state)
        ours = dequantize(qt, dtype)
        assert theirs.dtype == dtype
        eps = torch.finfo(dtype).eps
        torch.testing.assert_close(ours.float(), theirs.float(), rtol=eps, atol=0.0)
