"""NormalFloat (NF-k) quantization: blockwise absmax scaling onto a normal-quantile code book.

The NF-k code book follows the construction of the QLoRA paper (Dettmers et al., 2023) as
bitsandbytes builds it (``create_normal_map``, offset 0.9677083, the asymmetric "extra value"
layout): ``2**(k-1)`` positive normal quantiles, an exact zero and ``2**(k-1) - 1`` negative
quantiles, normalised to [-1, 1]. For k = 4 it equals bitsandbytes' NF4 table exactly in float32;
k = 3 and k = 2 give the NF3/NF2 books LoftQ uses; k = 8 (NF8, part of LQ-LoRA's search space)
is the same construction with 128 positive and 127 negative quantiles. Quantization is
bitsandbytes' too: each group of ``group_size`` consecutive weights along a row is scaled by the
reciprocal of its absmax and rounded to the nearest code (ties to the lower code), so NF4 codes,
absmax values and packed bytes match ``bitsandbytes.functional.quantize_4bit(...,
quant_type="nf4")``.

    >>> import torch
    >>> from suite.quant.nf import quantize_nf
    >>> from suite.quant.qtensor import dequantize
    >>> _ = torch.manual_seed(0)
    >>> w = torch.randn(64, 128)
    >>> qt = quantize_nf(w, bits=4, group_size=64)
    >>> qt.codes.numel(), tuple(qt.scales.shape)  # two codes per byte, one absmax per group
    (4096, (64, 2))
    >>> round(((dequantize(qt) - w).norm() / w.norm()).item(), 2)
    0.09
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

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

NF_OFFSET = 0.9677083  # outermost quantile, from bitsandbytes / the QLoRA paper


def nf_codebook(bits: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The sorted NF-``bits`` code values in [-1, 1] as a float32 tensor of length 2**bits.

    Quantile positions are spaced in float32 (as torch.linspace does in bitsandbytes), the normal
    quantiles are taken in float64 and rounded to float32 before normalising by the largest value.
    """
    check_scheme_bits("nf", bits)
    half = 1 << (bits - 1)
    pos_p = torch.linspace(NF_OFFSET, 0.5, half + 1)[:-1].double()
    neg_p = torch.linspace(NF_OFFSET, 0.5, half)[:-1].double()
    pos = torch.special.ndtri(pos_p).float()
    neg = -torch.special.ndtri(neg_p).float()
    values = torch.cat([neg, torch.zeros(1), pos]).sort().values
    return (values / values.max()).to(device)


def nf_absmax(
    groups: torch.Tensor, clip: torch.Tensor | None, scale_dtype: torch.dtype
) -> torch.Tensor:
    """Per-group absmax (last dim reduced), optionally shrunk by ``clip``, as stored (float32)."""
    absmax = groups.abs().amax(dim=-1)
    if clip is not None:
        absmax = absmax * clip
    return absmax.to(scale_dtype).to(torch.float32)


def nf_codes(x: torch.Tensor, absmax: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Nearest-code indices (int64) of ``x`` scaled by 1/absmax (broadcast), clamped to [-1, 1]."""
    scaled = (x * (1.0 / absmax.clamp_min(1e-38))).clamp(-1.0, 1.0)
    midpoints = (codebook[:-1] + codebook[1:]) / 2
    return torch.bucketize(scaled, midpoints)


def quantize_nf(
    w: torch.Tensor,
    bits: int,
    group_size: int = 64,
    scale_dtype: torch.dtype | str = torch.float32,
    clip: torch.Tensor | float | None = None,
) -> QTensor:
    """NF-``bits`` blockwise absmax quantization of an (out, in) weight.

    ``clip`` (optional, per group in (0, 1]) shrinks each absmax; values beyond it saturate.
    """
    check_scheme_bits("nf", bits)
    out_f, in_f = check_weight(w)
    check_group_size(group_size, in_f)
    sdtype = scale_dtype_of(scale_dtype)
    n_groups = in_f // group_size
    groups = w.detach().to(torch.float32).reshape(out_f, n_groups, group_size)
    codebook = nf_codebook(bits, w.device)
    absmax = nf_absmax(groups, clip_factors(clip, (out_f, n_groups), w.device), sdtype)
    codes = nf_codes(groups, absmax.unsqueeze(-1), codebook)
    return QTensor(
        "nf", bits, group_size, (out_f, in_f), pack(codes, bits), absmax.to(sdtype), None, codebook
    )


@dataclass(frozen=True)
class NFQuantizer:
    """NF-k blockwise absmax (QLoRA's NF4; NF3/NF2 below 4 bits, NF8 above); ignores ``gram``."""

    name: ClassVar[str] = "nf"
    version: ClassVar[str] = "1"  # bump when its numbers change (suite.code_version)
    scale_dtype: str = "float32"

    def __post_init__(self) -> None:
        scale_dtype_of(self.scale_dtype)

    def quantize(
        self, weight: torch.Tensor, bits: int, group_size: int, gram: torch.Tensor | None = None
    ) -> QTensor:
        return quantize_nf(weight, bits, group_size, self.scale_dtype)

    def dequantize(self, qt: QTensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize(qt, dtype)
