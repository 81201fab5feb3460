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
quant_type="nf4")`` (float32 absmax by default, as bitsandbytes; :class:`NFQuantizer`, what the
methods use, stores the budget's scale dtype, float16 unless told otherwise); with ``dq`` the
absmax values are double-quantized (:mod:`suite.quant.dq`): ``dq=BNB_DQ`` is bitsandbytes'
``compress_statistics=True``, so NF4 codes, absmax codes and the dequantized weights match
bitsandbytes' (NF4 at group 64 then stores 4.127 bits per weight).

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

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch

from suite.quant.config import NFSettings, QuantSpec, stored_scale_dtype
from suite.quant.dq import DQSpec, double_quantize
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


def _nf_parts(
    w: torch.Tensor,
    bits: int,
    group_size: int,
    scale_dtype: torch.dtype | str,
    clip: torch.Tensor | float | None,
    dq: DQSpec | None,
):
    """(codes (out, groups, g), code book, stored scales or None, DoubleQuant or None, the
    float32 (out, groups) scales that dequantization multiplies by)."""
    check_scheme_bits("nf", bits)
    out_f, in_f = check_weight(w)
    check_group_size(group_size, in_f)
    n_groups = in_f // group_size
    groups = w.detach().to(torch.float32).reshape(out_f, n_groups, group_size)
    codebook = nf_codebook(bits, w.device)
    clips = clip_factors(clip, (out_f, n_groups), w.device)
    if dq is None:
        sdtype = scale_dtype_of(scale_dtype)
        absmax = nf_absmax(groups, clips, sdtype)
        codes = nf_codes(groups, absmax.unsqueeze(-1), codebook)
        return codes, codebook, absmax.to(sdtype), None, absmax
    absmax = nf_absmax(groups, clips, torch.float32)
    packed_scales = double_quantize(absmax, dq)
    used = packed_scales.dequantize().view(out_f, n_groups)
    # bitsandbytes codes the weights on the exact absmax, LQ-LoRA on the double-quantized one
    codes = nf_codes(groups, (absmax if dq.kind == "dynamic" else used).unsqueeze(-1), codebook)
    return codes, codebook, None, packed_scales, used


def quantize_nf(
    w: torch.Tensor,
    bits: int,
    group_size: int = 64,
    scale_dtype: torch.dtype | str = torch.float32,
    clip: torch.Tensor | float | None = None,
    dq: DQSpec | None = None,
) -> QTensor:
    """NF-``bits`` blockwise absmax quantization of an (out, in) weight.

    ``clip`` (optional, per group in (0, 1]) shrinks each absmax; values beyond it saturate.
    ``dq``: store the absmax values double-quantized (``scale_dtype`` is then unused).
    """
    codes, codebook, scales, packed_scales, _ = _nf_parts(
        w, bits, group_size, scale_dtype, clip, dq
    )
    shape = (int(w.shape[0]), int(w.shape[1]))
    return QTensor(
        "nf", bits, group_size, shape, pack(codes, bits), scales, None, codebook, packed_scales
    )


def nf_fake(
    w: torch.Tensor,
    bits: int,
    group_size: int,
    scale_dtype: torch.dtype | str = torch.float32,
    dq: DQSpec | None = None,
) -> torch.Tensor:
    """``dequantize(quantize_nf(w, bits, group_size, scale_dtype, dq=dq))`` without packing."""
    codes, codebook, _, _, used = _nf_parts(w, bits, group_size, scale_dtype, None, dq)
    return (codebook[codes] * used.unsqueeze(-1)).reshape(w.shape)


@dataclass(frozen=True)
class NFQuantizer(NFSettings):
    """NF-k blockwise absmax (QLoRA's NF4; NF3/NF2 below 4 bits, NF8 above); ignores ``gram``.

    Settings: ``quant.nf.*`` (:class:`suite.quant.config.NFSettings`): the absmax values
    double-quantized where ``double_quant`` (bitsandbytes' layout, :data:`suite.quant.dq.BNB_DQ`,
    with ``dq_rounding``), else stored in ``scale_dtype`` (unset: the default budget's, float16).
    """

    name: ClassVar[str] = "nf"
    # bump when its numbers change (suite.code_version); 2: float16 absmax, double quantization
    version: ClassVar[str] = "2"

    @classmethod
    def from_spec(cls, quant: QuantSpec) -> NFQuantizer:
        return cls(**dataclasses.asdict(quant.nf))

    @property
    def dq(self) -> DQSpec | None:
        """How the absmax values are double-quantized (None: stored in ``scale_dtype``)."""
        return DQSpec(rounding=self.dq_rounding) if self.double_quant else None

    def quantize(
        self, weight: torch.Tensor, bits: int, group_size: int, gram: torch.Tensor | None = None
    ) -> QTensor:
        scale_dtype = stored_scale_dtype(self.scale_dtype)
        return quantize_nf(weight, bits, group_size, scale_dtype, dq=self.dq)

    def dequantize(self, qt: QTensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize(qt, dtype)
