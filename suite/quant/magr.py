"""MagR (Zhang et al., "MagR: Weight Magnitude Reduction for Enhancing Post-Training
Quantization", NeurIPS 2024): shrink each output channel's largest weights while keeping the
layer's outputs, before quantizing.

For every row w of W (out, in) it solves, with H = XᵀX,

    min_w'  ½ (w' − w)ᵀ Ĥ (w' − w) + α ‖w'‖∞,      Ĥ = H / λ_max(H),

by proximal gradient descent with step 1 (= 1/L, since Ĥ has largest eigenvalue 1):
``w' ← prox_{α‖·‖∞}(w' − (w' − w) Ĥ)``. Normalising H by its largest eigenvalue is what the
authors' code does (it rescales X to unit spectral norm), so α means the same for every layer.
The ℓ∞ prox comes from the Moreau decomposition, ``prox_{α‖·‖∞}(v) = v − P_{‖·‖₁ ≤ α}(v)``, with
the ℓ1-ball projection of Duchi et al. (2008) (sort, cumulative sums, threshold); all rows are
processed at once. With ``group_size`` the ℓ∞ penalty applies per group of consecutive inputs
(the authors' group-wise variant; the per-row penalty lowers each row's maximum but may raise
the maximum of some groups, so match it to the quantizer's grouping). Defaults follow the
authors' code and README (AozhongZhang/MagR, ``MagR.py``): α = 0.001 per channel, α = 0.0001
group-wise, 200 iterations for both. One difference: the authors' ``H`` is that of the last
calibration batch only (their ``add_batch`` keeps only the latest inputs, one 2048-token window),
ours the Gram matrix of all calibration windows, each normalised by its largest eigenvalue.

:class:`MagRGPTQQuantizer` (``magr-gptq``, CLoQ's default) is the authors' pipeline: MagR
(``quant.magr.*``, group-wise on the budget's groups) and then GPTQ (``quant.gptq.*``), whose
optional coordinate-descent refinement (``quant.gptq.cd_passes``) keeps the outputs of the
original weight, as the authors' code does.

    >>> import torch
    >>> from suite.quant.magr import magr
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(256, 128) * torch.logspace(0, -3, 128)
    >>> w = torch.randn(16, 128) * 0.02
    >>> w2 = magr(w, x.T @ x)  # then quantize w2 instead of w
    >>> round((w2.abs().amax(1) / w.abs().amax(1)).mean().item(), 1)  # row maxima shrink
    0.7
    >>> bool((x @ (w2 - w).T).norm() < 0.05 * (x @ w.T).norm())  # outputs barely move
    True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch

from suite.quant.config import GPTQSettings, MagRSettings, QuantSpec
from suite.quant.qtensor import QTensor, check_group_size, check_weight, dequantize


def project_l1_ball(v: torch.Tensor, radius: float | torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of ``v`` onto {u : ‖u‖₁ ≤ radius} (Duchi et al., 2008)."""
    mag = v.abs()
    mu = mag.sort(dim=-1, descending=True).values
    csum = mu.cumsum(dim=-1)
    j = torch.arange(1, v.shape[-1] + 1, device=v.device, dtype=v.dtype)
    support = mu * j > csum - radius
    rho = (support * j).amax(dim=-1, keepdim=True).clamp_min(1)
    theta = (csum.gather(-1, rho.long() - 1) - radius) / rho
    return torch.sign(v) * (mag - theta.clamp_min(0)).clamp_min(0)


def prox_linf(v: torch.Tensor, alpha: float) -> torch.Tensor:
    """prox of α‖·‖∞ applied to each row of ``v``, by Moreau decomposition."""
    return v - project_l1_ball(v, alpha)


def magr(
    w: torch.Tensor,
    gram: torch.Tensor,
    alpha: float = 0.001,
    iters: int = 200,
    group_size: int | None = None,
) -> torch.Tensor:
    """MagR-preprocessed copy of the (out, in) weight ``w``, in ``w``'s dtype (float32 inside).

    ``gram`` is H = XᵀX (in, in) of the layer's calibration inputs, any float dtype.
    ``group_size``: None penalises each row's ℓ∞ norm; an integer, each group's.
    """
    out_f, in_f = check_weight(w)
    if not isinstance(gram, torch.Tensor) or tuple(gram.shape) != (in_f, in_f):
        got = tuple(gram.shape) if isinstance(gram, torch.Tensor) else type(gram).__name__
        raise ValueError(f"gram must be a ({in_f}, {in_f}) tensor H = XᵀX, got {got}")
    if not alpha > 0:
        raise ValueError(f"alpha={alpha!r} is not allowed; allowed: a number > 0 (e.g. 0.001)")
    if not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters={iters!r} is not allowed; allowed: an integer >= 0")
    if group_size is not None:
        check_group_size(group_size, in_f)
    w0 = w.detach().to(torch.float32)
    h = gram.detach().to(device=w.device, dtype=torch.float32)
    h = (h + h.T) / 2
    lam = torch.linalg.eigvalsh(h)[-1]
    if not bool(lam > 0):
        return w.detach().clone()
    h = h / lam
    rows = out_f if group_size is None else out_f * (in_f // group_size)
    cols = in_f if group_size is None else group_size
    cur = w0.clone()
    for _ in range(iters):
        v = cur - (cur - w0) @ h
        cur = prox_linf(v.view(rows, cols), alpha).view(out_f, in_f)
    return cur.to(w.dtype)


@dataclass(frozen=True)
class MagRGPTQQuantizer:
    """MagR preprocessing (``quant.magr``) and then GPTQ (``quant.gptq``); needs ``gram``."""

    name: ClassVar[str] = "magr-gptq"
    version: ClassVar[str] = "1"  # bump when its numbers change (suite.code_version)
    builds_on: ClassVar[tuple[str, ...]] = ("gptq",)  # whose versions its numbers also carry
    magr: MagRSettings = dataclasses.field(default_factory=MagRSettings)
    gptq: GPTQSettings = dataclasses.field(default_factory=GPTQSettings)

    @classmethod
    def from_spec(cls, quant: QuantSpec) -> MagRGPTQQuantizer:
        return cls(quant.magr, quant.gptq)

    def quantize(
        self, weight: torch.Tensor, bits: int, group_size: int, gram: torch.Tensor | None = None
    ) -> QTensor:
        from suite.quant.gptq import GPTQQuantizer

        if gram is None:
            raise ValueError(
                "quantizer 'magr-gptq' needs gram (H = XᵀX of the layer's calibration inputs), "
                "got None"
            )
        w = weight.detach().float()
        shrunk = magr(w, gram, self.magr.alpha, self.magr.iters, group_size)
        gptq = GPTQQuantizer(**dataclasses.asdict(self.gptq))
        return gptq.quantize(shrunk, bits, group_size, gram=gram, target=w)

    def dequantize(self, qt: QTensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize(qt, dtype)
