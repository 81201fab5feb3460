"""Double quantization (DQ) of the group scales: the absmax values stored as low-bit codes.

A blockwise-absmax base stores one scale per group of g weights; double quantization stores
those scales (``count`` values, in the QTensor's row-major group order) quantized again, in
second-level blocks of ``block`` scales, plus one float32 offset. Two published layouts:

- ``kind="dynamic"``: QLoRA's (bitsandbytes' ``compress_statistics=True``). offset = mean of the
  absmax values; ``absmax - offset`` is quantized blockwise (block 256) onto bitsandbytes' signed
  8-bit dynamic map (:func:`dynamic_map`) with one float32 absmax per block. The weights' own
  codes are chosen on the exact absmax before it is compressed, as bitsandbytes does. NF4 with
  group 64 then costs 4 + 8/64 + 32/(64·256) = 4.127 bits per weight (QLoRA §3).
- ``kind="uint"``: LQ-LoRA's (``blockwise_absmax`` of its released quantization utils). offset =
  min of the absmax values; ``absmax - offset`` (never negative) goes onto an unsigned uniform
  grid of ``bits`` bits with one scale per block (the block's max, stored in ``scale_dtype``):
  ``code = clamp(round(x · (2^bits − 1) / amax), 0, 2^bits − 1)``, value ``code / ((2^bits − 1)
  / amax)``; a block whose max is at most 2⁻²⁴ is all zeros. The weights are then coded on the
  double-quantized absmax, as the released code does.

Rounding onto the dynamic map (``rounding``): ``"nearest"`` (the nearest code, ties to the lower
one; bitsandbytes' CUDA kernel, which the QLoRA paper ran) or ``"bnb-cpu"`` (bitsandbytes' CPU
kernel, which looks a value up in a table of 65536 evenly spaced bins of [-1, 1] and so picks the
neighbouring code for values within half a bin, 2⁻¹⁶, of a midpoint).

A last second-level block may be partial (bitsandbytes handles any count; the released LQ-LoRA
code needs whole blocks). Storage (:meth:`DoubleQuant.nbytes`): the codes packed at ``bits``,
one scale per block in ``scale_dtype``, the float32 offset; the dynamic map is a fixed table of
the format (a code book), not stored per tensor.

    >>> import torch
    >>> from suite.quant.dq import BNB_DQ, double_quantize
    >>> _ = torch.manual_seed(0)
    >>> absmax = torch.rand(5184) * 0.1 + 0.02  # one SmolLM2 576x576 matrix in groups of 64
    >>> dq = double_quantize(absmax, BNB_DQ)
    >>> dq.nbytes()  # 5184 one-byte codes, 21 float32 block scales, the offset
    5272
    >>> bool((dq.dequantize() - absmax).abs().max() < 1e-3)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from suite.quant.packing import pack, packed_nbytes, unpack

DQ_KINDS = ("dynamic", "uint")
ROUNDINGS = ("nearest", "bnb-cpu")
_LUT_BINS = 65536
_TINY_AMAX = 2.0**-24  # LQ-LoRA's (pytorch-quantization's) "no range" threshold


@dataclass(frozen=True)
class DQSpec:
    """How the scales are double-quantized (see the module docs)."""

    kind: str = "dynamic"
    bits: int = 8
    block: int = 256
    scale_dtype: str = "float32"  # of the second-level scales
    rounding: str = "nearest"  # dynamic kind only

    def __post_init__(self) -> None:
        from suite.budget import SCALE_DTYPE_BITS
        from suite.quant.packing import PACK_BITS

        if self.kind not in DQ_KINDS:
            raise ValueError(
                f"dq kind {self.kind!r} is not allowed; allowed: {', '.join(DQ_KINDS)}"
            )
        if self.kind == "dynamic" and self.bits != 8:
            raise ValueError(f"dq bits {self.bits} is not allowed for kind dynamic; allowed: 8")
        if self.bits not in PACK_BITS:
            raise ValueError(f"dq bits {self.bits} is not allowed; allowed: 2, 3, 4, 8")
        if not isinstance(self.block, int) or self.block <= 0:
            raise ValueError(f"dq block {self.block!r} is not allowed; allowed: a positive integer")
        if self.scale_dtype not in SCALE_DTYPE_BITS:
            raise ValueError(
                f"dq scale dtype {self.scale_dtype!r} is not allowed; "
                f"allowed: {', '.join(SCALE_DTYPE_BITS)}"
            )
        if self.rounding not in ROUNDINGS:
            raise ValueError(
                f"dq rounding {self.rounding!r} is not allowed; allowed: {', '.join(ROUNDINGS)}"
            )

    @property
    def label(self) -> str:
        short = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}[self.scale_dtype]
        return f"dq{self.bits}{'d' if self.kind == 'dynamic' else 'u'}-{short}-b{self.block}"

    def nbytes(self, count: int) -> int:
        """Bytes that the double-quantized form of ``count`` scales occupies."""
        from suite.budget import scale_bits

        blocks = -(-count // self.block)
        return packed_nbytes(count, self.bits) + blocks * scale_bits(self.scale_dtype) // 8 + 4

    def meta(self) -> dict:
        return {
            "kind": self.kind,
            "bits": self.bits,
            "block": self.block,
            "scale_dtype": self.scale_dtype,
            "rounding": self.rounding,
        }


BNB_DQ = DQSpec()  # bitsandbytes' compress_statistics: dynamic 8-bit, block 256, float32 scales


def dynamic_map() -> torch.Tensor:
    """bitsandbytes' signed 8-bit dynamic map (``create_dynamic_map()``): 256 sorted float32 values.

    For exponent e = 0..6, 2^e values ± 10^(e−6)·m, with m the midpoints of 2^e + 1 evenly
    spaced points of [0.1, 1] (computed in float32, as bitsandbytes does); plus 0 and 1.
    """
    values: list[float] = [0.0, 1.0]
    for e in range(7):
        edges = torch.linspace(0.1, 1, (1 << e) + 1, dtype=torch.float32)
        mids = (edges[:-1] + edges[1:]) / 2.0
        magnitude = (10.0 ** (e - 6)) * mids
        values += magnitude.tolist() + (-magnitude).tolist()
    return torch.tensor(sorted(values), dtype=torch.float32)


@lru_cache(maxsize=8)
def _dynamic_map_on(device: str) -> torch.Tensor:
    """:func:`dynamic_map` on ``device``, made once per device: a base whose absmax values
    are double-quantized expands them at every forward, and building the table there (and
    copying it to a GPU, which waits for the GPU) would cost more than the expansion. Read only.
    """
    return dynamic_map().to(device)


def _dynamic_codes(scaled: torch.Tensor, table: torch.Tensor, rounding: str) -> torch.Tensor:
    """Indices into ``table`` (sorted) of values in [-1, 1], by the ``rounding`` rule."""
    mids = (table[:-1] + table[1:]) * 0.5
    if rounding == "nearest":
        return torch.bucketize(scaled, mids)
    # bitsandbytes' CPU table: bin i stands for -1 + 2i/65535 and holds its nearest code
    steps = torch.arange(_LUT_BINS, dtype=torch.float32, device=scaled.device)
    centres = torch.tensor(-1.0, device=scaled.device) + (2.0 * steps) / torch.tensor(
        float(_LUT_BINS - 1), device=scaled.device
    )
    table_codes = torch.searchsorted(mids, centres)
    index = ((scaled.clamp(-1.0, 1.0) + 1.0) * 0.5 * float(_LUT_BINS - 1) + 0.5).to(torch.int64)
    return table_codes[index]


@dataclass(eq=False)
class DoubleQuant:
    """``count`` scales stored double-quantized: packed codes, block scales, one offset."""

    spec: DQSpec
    count: int
    codes: torch.Tensor  # packed uint8
    scales: torch.Tensor  # (blocks,) in spec.scale_dtype
    offset: torch.Tensor  # (1,) float32

    def __post_init__(self) -> None:
        blocks = -(-self.count // self.spec.block)
        if self.codes.dtype != torch.uint8 or self.codes.numel() != packed_nbytes(
            self.count, self.spec.bits
        ):
            raise ValueError(
                f"dq codes hold {self.codes.numel()} {self.codes.dtype} values; "
                f"{self.count} codes of {self.spec.bits} bits need "
                f"{packed_nbytes(self.count, self.spec.bits)} uint8 bytes"
            )
        if tuple(self.scales.shape) != (blocks,):
            raise ValueError(
                f"dq scales have shape {tuple(self.scales.shape)}, expected ({blocks},)"
            )
        if self.offset.dtype != torch.float32 or self.offset.numel() != 1:
            raise ValueError("dq offset must be one float32 value")

    def nbytes(self) -> int:
        return self.spec.nbytes(self.count)

    def dequantize(self) -> torch.Tensor:
        """The ``count`` scales (float32, 1-D) that the base's dequantization uses."""
        q = unpack(self.codes, self.spec.bits, self.count)
        blocks = self.scales.numel()
        pad = blocks * self.spec.block - self.count
        scale = self.scales.to(torch.float32)
        if self.spec.kind == "dynamic":
            table = _dynamic_map_on(str(q.device))
            values = table[q.to(torch.int64)]
            values = torch.cat([values, values.new_zeros(pad)]).view(blocks, -1) * scale[:, None]
        else:
            step = _uint_step(scale, self.spec.bits)
            values = torch.cat([q.to(torch.float32), q.new_zeros(pad, dtype=torch.float32)])
            values = values.view(blocks, -1) / step[:, None]
        return values.reshape(-1)[: self.count] + self.offset

    def to(self, device: torch.device | str) -> DoubleQuant:
        return DoubleQuant(
            self.spec,
            self.count,
            self.codes.to(device),
            self.scales.to(device),
            self.offset.to(device),
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"dq_codes": self.codes, "dq_scales": self.scales, "dq_offset": self.offset}

    @classmethod
    def from_state(cls, meta: dict, count: int, tensors: dict[str, torch.Tensor]) -> DoubleQuant:
        return cls(
            DQSpec(**meta), count, tensors["dq_codes"], tensors["dq_scales"], tensors["dq_offset"]
        )


def _uint_step(amax: torch.Tensor, bits: int) -> torch.Tensor:
    """LQ-LoRA's step ``(2^bits − 1) / amax`` per block (1 where the block has no range)."""
    maxq = torch.full_like(amax, float((1 << bits) - 1))
    return torch.where(amax > _TINY_AMAX, maxq / amax, torch.ones_like(amax))


def double_quantize(absmax: torch.Tensor, spec: DQSpec) -> DoubleQuant:
    """Double-quantize ``absmax`` (any shape, read in row-major order) by ``spec``."""
    x = absmax.detach().to(torch.float32).reshape(-1).contiguous()
    count = x.numel()
    if count == 0:
        raise ValueError("nothing to double-quantize: no scales")
    offset = (x.mean() if spec.kind == "dynamic" else x.min()).reshape(1)
    centred = x - offset
    blocks = -(-count // spec.block)
    pad = blocks * spec.block - count
    padded = torch.cat([centred, centred.new_zeros(pad)]).view(blocks, spec.block)
    amax = padded.abs().amax(dim=1)
    sdtype = getattr(torch, spec.scale_dtype)  # a name of suite.budget's SCALE_DTYPE_BITS
    if spec.kind == "dynamic":
        inv = torch.where(amax > 0, 1.0 / amax, torch.zeros_like(amax))
        scaled = (padded * inv[:, None]).reshape(-1)[:count]
        table = dynamic_map().to(x.device)
        codes = _dynamic_codes(scaled, table, spec.rounding)
        scales = amax.to(sdtype)
    else:
        amax = amax.to(sdtype).to(torch.float32)
        maxq = (1 << spec.bits) - 1
        step = torch.where(amax > _TINY_AMAX, _uint_step(amax, spec.bits), torch.zeros_like(amax))
        codes = torch.round(padded * step[:, None]).clamp(0, maxq).reshape(-1)[:count]
        scales = amax.to(sdtype)
    return DoubleQuant(spec, count, pack(codes.to(torch.uint8), spec.bits), scales, offset)
