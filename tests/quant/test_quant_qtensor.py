from __future__ import annotations

import json

import pytest
import torch

from suite.quant.nf import quantize_nf
from suite.quant.qtensor import QTensor, dequantize
from suite.quant.uniform import quantize_int


def _make(scheme: str, bits: int, group_size: int, scale_dtype, shape=(48, 256)) -> QTensor:
    w = torch.randn(shape, generator=torch.Generator().manual_seed(bits + group_size))
    fn = quantize_nf if scheme == "nf" else quantize_int
    return fn(w, bits, group_size, scale_dtype=scale_dtype)


CASES = [
    ("nf", 4, 64, torch.float32),
    ("nf", 3, 128, torch.float16),
    ("nf", 2, 32, torch.bfloat16),
    ("int", 4, 64, torch.float32),
    ("int", 3, 64, torch.float16),
    ("int", 2, 256, torch.float32),
    ("int", 8, 16, torch.bfloat16),
]


@pytest.mark.parametrize(("scheme", "bits", "group_size", "scale_dtype"), CASES)
def test_nbytes_is_what_state_dict_stores(scheme, bits, group_size, scale_dtype) -> None:
    qt = _make(scheme, bits, group_size, scale_dtype)
    stored = sum(t.numel() * t.element_size() for t in qt.state_dict().values())
    assert qt.nbytes() == stored
    book = 0 if qt.codebook is None else 4 << bits  # the float32 code book, accounted aside
    assert qt.accounted_nbytes() == stored - book
    assert qt.effective_bits() == 8 * (stored - book) / qt.numel


def test_effective_bits_exact() -> None:
    numel = 48 * 256
    # NF4, block 64, float32 absmax: 4 + 32/64 (the 16-entry code book aside, stored still)
    qt = _make("nf", 4, 64, torch.float32)
    assert qt.effective_bits() == 4.5 and qt.nbytes() == numel * 4.5 / 8 + 64
    # INT4, group 64, float32 scale + 4-bit zero point: 4 + 32/64 + 4/64
    assert _make("int", 4, 64, torch.float32).effective_bits() == 4.5625
    # INT2, group 64, float16 scale + 2-bit zero point: 2 + 16/64 + 2/64
    assert _make("int", 2, 64, torch.float16).effective_bits() == 2.28125
    # INT3, group 128, float32: 3 + 32/128 + 3/128; 3-bit codes really take 3/8 byte each
    qt = _make("int", 3, 128, torch.float32)
    assert qt.codes.numel() == numel * 3 // 8
    assert qt.effective_bits() == 3 + 32 / 128 + 3 / 128
    # NF2, block 64 float16 absmax: 2 + 16/64
    assert _make("nf", 2, 64, torch.float16).effective_bits() == 2.25


def test_quantizers_store_float16_scales_by_default() -> None:
    from suite.quant import get_quantizer

    w, h = torch.randn(16, 128), torch.eye(128)
    for name in ("nf", "int", "gptq"):
        assert get_quantizer(name).quantize(w, 2, 64, gram=h).scales.dtype == torch.float16


@pytest.mark.parametrize(("scheme", "bits", "group_size", "scale_dtype"), CASES)
def test_from_state_round_trips_exactly(scheme, bits, group_size, scale_dtype) -> None:
    qt = _make(scheme, bits, group_size, scale_dtype, shape=(40, 512))
    meta = json.loads(json.dumps(qt.meta()))
    back = QTensor.from_state(meta, {k: v.clone() for k, v in qt.state_dict().items()})
    assert (back.scheme, back.bits, back.group_size, back.shape) == (
        qt.scheme,
        qt.bits,
        qt.group_size,
        qt.shape,
    )
    assert torch.equal(back.codes, qt.codes) and torch.equal(back.scales, qt.scales)
    assert back.scales.dtype == scale_dtype
    if scheme == "int":
        assert torch.equal(back.zeros, qt.zeros)
    else:
        assert torch.equal(back.codebook, qt.codebook)
    assert torch.equal(dequantize(back), dequantize(qt))
    assert back.nbytes() == qt.nbytes()


def test_safetensors_round_trip(tmp_path) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    qt = _make("int", 3, 64, torch.float16)
    path = tmp_path / "w.safetensors"
    safetensors.save_file(qt.state_dict(), path, metadata={"qtensor": json.dumps(qt.meta())})
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        meta = json.loads(fh.metadata()["qtensor"])
    back = QTensor.from_state(meta, safetensors.load_file(path))
    assert torch.equal(dequantize(back), dequantize(qt))


def test_to_and_dtype() -> None:
    qt = _make("nf", 4, 64, torch.float32)
    moved = qt.to("cpu")
    assert moved is not qt and torch.equal(dequantize(moved), dequantize(qt))
    half = dequantize(qt, torch.float16)
    assert half.dtype == torch.float16 and torch.equal(half, dequantize(qt).half())


def test_inconsistent_parts_are_rejected() -> None:
    qt = _make("int", 4, 64, torch.float32)
    with pytest.raises(ValueError, match="codes hold"):
        QTensor("int", 4, 64, qt.shape, qt.codes[:-1], qt.scales, qt.zeros)
    with pytest.raises(ValueError, match="scales have shape"):
        QTensor("int", 4, 64, qt.shape, qt.codes, qt.scales[:, :2], qt.zeros)
    with pytest.raises(ValueError, match="needs zeros"):
        QTensor("int", 4, 64, qt.shape, qt.codes, qt.scales, None)
    with pytest.raises(ValueError, match="bits=5"):
        QTensor("int", 5, 64, qt.shape, qt.codes, qt.scales, qt.zeros)
    with pytest.raises(ValueError, match="not a qtensor"):
        QTensor.from_state({"format": "other"}, qt.state_dict())
