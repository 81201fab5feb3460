"""Learnable weight clipping (LWC): INT-k fake quantization differentiable in its clipping factors.

OmniQuant's LWC (Shao et al., 2024), as ApiQ uses it: every group of ``group_size`` weights along
a row gets two learnable logits, and its min and max are shrunk by ``sigmoid(logit)`` before the
asymmetric min-max grid of :mod:`suite.quant.uniform` is built. Rounding passes gradients straight
through (the straight-through estimator), so the loss reaches the logits through the step size;
the zero point is rounded without a gradient, as in the released code.

Choices the papers leave open, and ours:

- The grid is exactly :func:`suite.quant.uniform.quantize_int`'s (range always holding 0, integer
  zero point in [0, 2**k - 1], the step rounded through the stored scale dtype, which ApiQ
  passes from the budget): the forward pass uses the very values that the packed QTensor will
  hold after training (:func:`lwc_quantize`), with no rounding gap between the two; the
  rounding of the step passes gradients straight through, in float32.
- Factors are ``sigmoid(logit)`` clamped to [1e-4, 1] (a group is never shrunk to nothing);
  logits start at 4 (factor 0.982), the released code's initial value.
- The straight-through value is ``round(x) + (x - x.detach())``, which equals ``round(x)``
  exactly in the forward pass.

    >>> import torch
    >>> from methods.apiq.lwc import lwc_fake_quantize, lwc_quantize
    >>> _ = torch.manual_seed(0)
    >>> w = torch.randn(8, 128)
    >>> up, low = torch.full((8, 2), 4.0, requires_grad=True), torch.full((8, 2), 4.0)
    >>> wq = lwc_fake_quantize(w, 2, 64, up, low)
    >>> wq.square().sum().backward()
    >>> packed = lwc_quantize(w, 2, 64, up, low)
    >>> bool(up.grad.abs().sum() > 0), torch.equal(wq.detach(), packed.dequantize())
    (True, True)
"""

from __future__ import annotations

import torch

from suite.quant.qtensor import QTensor, scale_dtype_of
from suite.quant.uniform import quantize_int

CLIP_MIN = 1e-4
INIT_LOGIT = 4.0


def lwc_factors(logit: torch.Tensor) -> torch.Tensor:
    """Clipping factors in [1e-4, 1] from logits (float32)."""
    return torch.sigmoid(logit.float()).clamp(CLIP_MIN, 1.0)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """round(x) in the forward pass, the identity's gradient in the backward pass."""
    return torch.round(x).detach() + (x - x.detach())


def group_range(w: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group (min, max) of a fixed weight, (out, in // group_size) each; no gradient."""
    out_f, in_f = w.shape
    groups = w.detach().float().reshape(out_f, in_f // group_size, group_size)
    return groups.amin(-1), groups.amax(-1)


def lwc_fake_quantize(
    w: torch.Tensor,
    bits: int,
    group_size: int,
    up_logit: torch.Tensor,
    low_logit: torch.Tensor,
    w_range: tuple[torch.Tensor, torch.Tensor] | None = None,
    scale_dtype: torch.dtype | str = torch.float32,
) -> torch.Tensor:
    """Quantize-dequantize ``w`` (float32) with clipping ``sigmoid(logit)``, differentiable in both.

    ``w_range``: the per-group (min, max) of ``w`` if already at hand (``group_range``).
    """
    out_f, in_f = w.shape
    maxq = (1 << bits) - 1
    wmin, wmax = w_range if w_range is not None else group_range(w, group_size)
    hi = (wmax * lwc_factors(up_logit)).clamp(min=0.0)
    lo = (wmin * lwc_factors(low_logit)).clamp(max=0.0)
    raw = (hi - lo) / maxq
    # the stored step in the forward pass; its rounding passes the float32 gradient straight
    # through (a cast's own backward would round the gradient to the scale dtype: at float16 a
    # large block loss, as Gemma 3's activations give, overflows it to inf)
    stored = raw.detach().to(scale_dtype_of(scale_dtype)).to(torch.float32)
    scale = stored + (raw - raw.detach())
    scale = torch.where(scale > 0, scale, torch.ones_like(scale)).unsqueeze(-1)
    zero = torch.round(-lo.detach().unsqueeze(-1) / scale.detach()).clamp(0, maxq)
    groups = w.detach().float().reshape(out_f, in_f // group_size, group_size)
    codes = (round_ste(groups / scale) + zero).clamp(0, maxq)
    return ((codes - zero) * scale).reshape(out_f, in_f)


def lwc_quantize(
    w: torch.Tensor,
    bits: int,
    group_size: int,
    up_logit: torch.Tensor,
    low_logit: torch.Tensor,
    scale_dtype: torch.dtype | str = torch.float32,
) -> QTensor:
    """The packed INT-k QTensor of ``w`` with the learned clipping (what the fake pass computed)."""
    with torch.no_grad():
        return quantize_int(
            w.detach().float(),
            bits,
            group_size,
            clip=lwc_factors(up_logit),
            scale_dtype=scale_dtype,
            clip_lo=lwc_factors(low_logit),
        )
