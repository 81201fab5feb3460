"""Asymmetric uniform INT-k quantization, min-max per group, round to nearest.

Each group of ``group_size`` consecutive weights along a row gets a step size
``scale = (hi - lo) / (2**k - 1)`` and an integer zero point ``zero = round(-lo / scale)`` in
[0, 2**k - 1], with ``lo = min(min(w) * clip, 0)`` and ``hi = max(max(w) * clip, 0)``: the range
always contains 0 (as in GPTQ's quantizer), so an integer zero point exists and 0 is exact. A
weight maps to ``code = clamp(round(w / scale) + zero, 0, 2**k - 1)`` and back to
``(code - zero) * scale``. Without clipping every weight is within scale/2 of its reconstruction,
and a group's extremes map to codes 0 and 2**k - 1, so its span is kept. The scale is rounded to
its storage dtype *before* codes are chosen, so what is stored is exactly what was used.

The helpers (:func:`int_params`, :func:`int_codes`, :func:`int_values`) are what GPTQ's column
loop and learnable clipping reuse.

    >>> import torch
    >>> from suite.quant.uniform import quantize_int
    >>> from suite.quant.qtensor import dequantize
    >>> _ = torch.manual_seed(0)
    >>> w = torch.randn(64, 128)
    >>> qt = quantize_int(w, bits=4, group_size=64)
    >>> err = (dequantize(qt) - w).abs().view(64, 2, 64)
    >>> bool((err <= qt.scales.unsqueeze(-1) / 2 + 1e-6).all())
    True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch

from suite.quant.config import IntSettings, QuantSpec, stored_scale_dtype
from suite.quant.packing import pack
from suite.quant.qtensor import (
    QTensor,
    check_group_size,
    check_scheme_bits,
    check_weight,
    clip_factors,
    dequantize,
    scale_dtype_of,
)


def int_range(
    groups: torch.Tensor, clip: torch.Tensor | None = None, clip_lo: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group (min, max) over the last dim, each multiplied by ``clip`` when given.

    ``clip_lo``, when given, shrinks the min instead of ``clip`` (separate lower and upper
    factors, as learnable weight clipping learns them).
    """
    lo, hi = groups.amin(dim=-1), groups.amax(dim=-1)
    if clip is not None:
        hi = hi * clip
    low = clip if clip_lo is None else clip_lo
    if low is not None:
        lo = lo * low
    return lo, hi


def int_params(
    lo: torch.Tensor, hi: torch.Tensor, bits: int, scale_dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step size and zero point (both float32; the zero holds integers) of the k-bit grid.

    The grid covers [min(lo, 0), max(hi, 0)]. The scale is rounded through ``scale_dtype``; a
    group of zeros (or one whose scale underflows that dtype) gets scale 1 and zero 0.
    """
    maxq = (1 << bits) - 1
    lo = lo.to(torch.float32).clamp(max=0.0)
    hi = hi.to(torch.float32).clamp(min=0.0)
    # divide by a tensor, not a Python number: CUDA turns division by a scalar into multiplication
    # by its reciprocal, which rounds differently from the CPU's true division
    steps = torch.full_like(hi, float(maxq))
    scale = ((hi - lo) / steps).to(scale_dtype).to(torch.float32)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    zero = torch.round(-lo / scale).clamp(0, maxq)
    return scale, zero


def int_codes(x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, bits: int) -> torch.Tensor:
    """Codes (float32 holding integers) of ``x`` on the grid (scale, zero), broadcast."""
    return (torch.round(x / scale) + zero).clamp(0, (1 << bits) - 1)


def int_values(codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    """Reconstructed values ``(codes - zero) * scale`` in float32 (as dequantize computes them)."""
    return (codes.to(torch.float32) - zero) * scale


def fake_quantize_int(
    x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, bits: int
) -> torch.Tensor:
    """Quantize-dequantize ``x`` on the grid (scale, zero): one GPTQ column, or a whole group."""
    return int_values(int_codes(x, scale, zero, bits), scale, zero)


def quantize_int(
    w: torch.Tensor,
    bits: int,
    group_size: int = 64,
    clip: torch.Tensor | float | None = None,
    scale_dtype: torch.dtype | str = torch.float32,
    clip_lo: torch.Tensor | float | None = None,
) -> QTensor:
    """Asymmetric min-max INT-``bits`` quantization of an (out, in) weight, round to nearest.

    ``clip``: optional shrink factors in (0, 1], a float or a tensor broadcastable to
    (out, in // group_size), applied to each group's min and max; values beyond saturate.
    ``clip_lo``: optional separate factors for the min (``clip`` then shrinks only the max).
    """
    check_scheme_bits("int", bits)
    out_f, in_f = check_weight(w)
    check_group_size(group_size, in_f)
    sdtype = scale_dtype_of(scale_dtype)
    n_groups = in_f // group_size
    groups = w.detach().to(torch.float32).reshape(out_f, n_groups, group_size)
    shape = (out_f, n_groups)
    lo, hi = int_range(
        groups, clip_factors(clip, shape, w.device), clip_factors(clip_lo, shape, w.device)
    )
    scale, zero = int_params(lo, hi, bits, sdtype)
    codes = int_codes(groups, scale.unsqueeze(-1), zero.unsqueeze(-1), bits)
    return QTensor(
        "int",
        bits,
        group_size,
        (out_f, in_f),
        pack(codes.to(torch.uint8), bits),
        scale.to(sdtype),
        zero.to(torch.uint8),
        None,
    )


@dataclass(frozen=True)
class IntQuantizer(IntSettings):
    """Asymmetric INT-k min-max per group, round to nearest; ignores ``gram``.

    Settings: ``quant.int.*`` (:class:`suite.quant.config.IntSettings`).
    """

    name: ClassVar[str] = "int"
    # bump when its numbers change (suite.code_version); 2: float16 scales
    version: ClassVar[str] = "2"

    @classmethod
    def from_spec(cls, quant: QuantSpec) -> IntQuantizer:
        return cls(**dataclasses.asdict(quant.int))

    def quantize(
        self, weight: torch.Tensor, bits: int, group_size: int, gram: torch.Tensor | None = None
    ) -> QTensor:
        return quantize_int(
            weight, bits, group_size, scale_dtype=stored_scale_dtype(self.scale_dtype)
        )

    def dequantize(self, qt: QTensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize(qt, dtype)
