"""Double quantization of the absmax values: QLoRA's (against bitsandbytes itself, on the CPU)
and LQ-LoRA's (against a plain implementation of its released ``blockwise_absmax``)."""

from __future__ import annotations

import json

import pytest
import torch

from suite.quant.dq import BNB_DQ, DQSpec, double_quantize, dynamic_map
from suite.quant.nf import quantize_nf
from suite.quant.qtensor import QTensor, dequantize

# (out, in): SmolLM2's q_proj (5184 absmax values: 20 whole second-level blocks and a partial
# one), its down_proj, the synthetic model's gate_proj, and a matrix with 17 absmax values
SHAPES = [(576, 576), (576, 1536), (352, 128), (17, 64)]


def _weights(shape, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g) * 0.02
    w[: max(1, shape[0] // 16)] *= 8.0  # rows of larger weights: a spread of absmax values
    return w


@pytest.fixture(scope="module")
def bnb():
    return pytest.importorskip("bitsandbytes.functional")


def test_dynamic_map_is_bitsandbytes(bnb) -> None:
    assert torch.equal(dynamic_map(), bnb.create_dynamic_map())


@pytest.mark.parametrize("shape", SHAPES)
def test_bnb_cpu_rounding_equals_bitsandbytes_compress_statistics(bnb, shape) -> None:
    w = _weights(shape, seed=shape[0] + shape[1])
    packed, state = bnb.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
    qt = quantize_nf(w, 4, 64, dq=DQSpec(rounding="bnb-cpu"))
    assert state.nested and qt.scales is None
    assert torch.equal(qt.codes, packed.flatten())  # the NF4 codes, on the exact absmax
    assert torch.equal(qt.dq.codes, state.absmax)  # the 8-bit absmax codes
    assert torch.equal(qt.dq.scales, state.state2.absmax)  # one float32 per 256 absmax values
    assert torch.equal(qt.dq.offset, state.offset.reshape(1))
    assert torch.equal(dequantize(qt), bnb.dequantize_4bit(packed, state))


@pytest.mark.parametrize("shape", SHAPES)
def test_nearest_rounding_is_the_nearest_code(bnb, shape) -> None:
    """The default picks the nearest dynamic-map value (bitsandbytes' CUDA kernel); bitsandbytes'
    CPU kernel differs only by one code, for values within half a table bin of a midpoint."""
    w = _weights(shape, seed=shape[0] * 3 + shape[1])
    absmax = w.abs().reshape(-1, 64).amax(1)
    qt = quantize_nf(w, 4, 64, dq=BNB_DQ)
    # a plain reference: offset = mean, blocks of 256, scale by the block's absmax, argmin
    x = absmax - absmax.mean()
    pad = -x.numel() % 256
    blocks = torch.cat([x, x.new_zeros(pad)]).view(-1, 256)
    amax = blocks.abs().amax(1, keepdim=True)
    scaled = (blocks * (1.0 / amax)).flatten()[: x.numel()]
    table = bnb.create_dynamic_map()
    expected = (scaled[:, None] - table[None, :]).abs().argmin(1)
    ours = qt.dq.codes.long()
    assert torch.equal(ours, expected)
    ref = table[expected]
    want = torch.cat([ref, ref.new_zeros(pad)]).view(-1, 256) * amax
    want = want.flatten()[: x.numel()] + absmax.mean()
    assert torch.equal(qt.group_scales().flatten(), want)
    _, state = bnb.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
    differ = ours != state.absmax.long()
    assert int(differ.sum()) <= max(1, x.numel() // 100)
    assert bool(((ours - state.absmax.long()).abs() <= 1).all())
    mids = (table[:-1] + table[1:]) / 2
    lower = torch.minimum(ours, state.absmax.long())[differ]
    assert bool(((scaled[differ] - mids[lower]).abs() <= 2.0**-16).all())


def test_qlora_dq_stores_4_127_bits_at_group_64() -> None:
    w = _weights((256, 1024), seed=1)  # 4096 absmax values: 16 whole second-level blocks
    qt = quantize_nf(w, 4, 64, dq=BNB_DQ)
    numel = w.numel()
    # 4-bit codes, one 8-bit code per 64 weights, one float32 per 64 x 256 weights, the offset
    assert qt.accounted_nbytes() == numel // 2 + numel // 64 + 4 * numel // (64 * 256) + 4
    assert qt.effective_bits() == 4 + 8 / 64 + 32 / (64 * 256) + 32 / numel
    assert round(qt.effective_bits(), 3) == 4.127
    assert qt.nbytes() == qt.accounted_nbytes() + 16 * 4  # the NF4 code book, stored aside


def _released_uint_dq(absmax: torch.Tensor, bits: int, block: int, dtype) -> torch.Tensor:
    """LQ-LoRA's blockwise_absmax second level, written out: min offset, per-block max cast
    through the second-level dtype, unsigned ``bits``-bit fake quantization, offset back."""
    offset = absmax.min()
    x = (absmax - offset).view(-1, block)
    amax = x.amax(1, keepdim=True).to(dtype).to(torch.float32)
    top = torch.tensor(float(2**bits - 1))
    scale = top / amax
    q = torch.clamp(torch.round(x * scale), 0.0, top)
    return (q / scale).flatten() + offset


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("block", [16, 64, 256])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_lqlora_uint_dq_equals_the_released_rule(bits, block, dtype) -> None:
    w = _weights((128, 512), seed=bits * block)  # 1024 absmax values at group 64
    name = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32"}[dtype]
    spec = DQSpec("uint", bits, block, name)
    qt = quantize_nf(w, 3, 64, dq=spec)
    absmax = w.abs().reshape(-1, 64).amax(1)
    want = _released_uint_dq(absmax, bits, block, dtype)
    assert torch.equal(qt.group_scales().flatten(), want)
    # LQ-LoRA codes the weights on the double-quantized absmax, by its bucket rule: boundaries at
    # the code book's midpoints and ±inf (values beyond the absmax saturate)
    book = qt.codebook
    inf = torch.tensor([float("inf")])
    bounds = torch.cat([-inf, (book[1:] + book[:-1]) / 2, inf])
    scaled = w.reshape(-1, 64) * (1.0 / want[:, None])
    expected = torch.bucketize(scaled, bounds, right=False) - 1
    assert torch.equal(qt.unpacked_codes().reshape(-1, 64).long(), expected)
    # storage: the released formula b + b0/B0 + b1/(B0·B1) bits per weight, plus the offset
    numel, b1 = w.numel(), {torch.float32: 32, torch.float16: 16, torch.bfloat16: 16}[dtype]
    assert 8 * qt.accounted_nbytes() == numel * (3 + bits / 64 + b1 / (64 * block)) + 32


@pytest.mark.parametrize("spec", [BNB_DQ, DQSpec("uint", 3, 64, "bfloat16")])
def test_double_quantized_qtensor_round_trips(spec) -> None:
    w = _weights((40, 512), seed=7)
    qt = quantize_nf(w, 2, 64, dq=spec)
    meta = json.loads(json.dumps(qt.meta()))
    state = qt.state_dict()
    assert sum(t.numel() * t.element_size() for t in state.values()) == qt.nbytes()
    back = QTensor.from_state(meta, {k: v.clone() for k, v in state.items()})
    assert back.dq.spec == spec
    assert torch.equal(dequantize(back), dequantize(qt))


def test_uint_block_without_range_is_exact() -> None:
    absmax = torch.full((32,), 0.5)  # every value equals the minimum: nothing to quantize
    dq = double_quantize(absmax, DQSpec("uint", 2, 16, "float16"))
    assert torch.equal(dq.dequantize(), absmax)


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="allowed: 8"):
        DQSpec("dynamic", 4)
    with pytest.raises(ValueError, match="kind"):
        DQSpec("log")
    with pytest.raises(ValueError, match="rounding"):
        DQSpec(rounding="up")
