"""LQ decomposition of one weight: W ≈ Q + L₁L₂ with Q NF-quantized and L₁L₂ of rank r.

LQ-LoRA (Guo et al., ICLR 2024, Algorithm 1) alternates two steps from Q = 0: L₁L₂ = SVD_r(W − Q),
then Q = q(W − L₁L₂), and stops when the reconstruction error rises. Choices the paper leaves
open, and ours:

- **Which iterate is returned**: the best one seen (the released code returns the last, which
  is the worse one when the loop stops on a rise). The loop stops as soon as the error does not
  fall (a rise, or a fixed point), or after ``max_iterations``.
- **Start**: ``start="zero"`` (the paper: Q₀ = 0, so the first step is an SVD of W) or
  ``start="quantize"`` (LoftQ's order: Q₀ = q(W)); with "quantize" the first iterate is exactly
  LoftQ's one step, so keeping the best iterate never does worse than it.
- **SVD**: ``"randomized"`` (the released code's default: a range finder with 10 oversampling
  columns and 2 power iterations, seeded by a torch Generator so results are reproducible) or
  ``"exact"``.
- **Fisher weighting**: with element importances F (squared gradients), the SVD step is the
  paper's two-sided weighted SVD: rows scaled by √mean_j F_ij, columns by √mean_i F_ij, SVD,
  scaled back; the error is ‖√F ⊙ (W − Q − L₁L₂)‖_F. Q itself stays plain NF (as in the paper).
  Importances are floored at 1e-6 of their mean so that a row or column without gradient is not
  divided by zero.
- Q is computed in float32 exactly as :func:`suite.quant.nf.quantize_nf` then
  :func:`~suite.quant.qtensor.dequantize` would give it (absmax in a float dtype, or
  double-quantized as in LQ-LoRA's search space), without packing, so the decomposition can be
  re-quantized into the same packed QTensor.

    >>> import torch
    >>> from methods.lqlora.decompose import lq_decompose
    >>> _ = torch.manual_seed(0)
    >>> w = torch.randn(64, 128)
    >>> res = lq_decompose(w, rank=8, bits=2, block=64, max_iterations=5)
    >>> [round(e) for e in res.errors]  # ‖W − Q − L₁L₂‖_F at each iteration
    [43, 40, 39, 38, 38]
    >>> res.error == min(res.errors)
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from suite.budget import DEFAULT_SCALE_DTYPE
from suite.quant.dq import DQSpec
from suite.quant.nf import nf_fake

SVD_KINDS = ("randomized", "exact")
STARTS = ("zero", "quantize")
__all__ = [
    "LQResult",
    "factor_weights",
    "first_errors",
    "first_factors",
    "lq_decompose",
    "low_rank",
    "nf_fake",
    "rank_r",
    "requantize",
]


def low_rank(
    a: torch.Tensor,
    rank: int,
    svd: str = "randomized",
    generator: torch.Generator | None = None,
    oversample: int = 10,
    power_iters: int = 2,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The top-``rank`` singular triple (U, S, Vh) of ``a``, exact or randomized (Halko et al.)."""
    m, n = a.shape
    k = min(rank + oversample, m, n)
    if svd == "exact" or k >= min(m, n):
        u, s, vh = torch.linalg.svd(a, full_matrices=False)
        return u[:, :rank], s[:rank], vh[:rank]
    omega = torch.randn(n, k, generator=generator).to(a.device, a.dtype)
    q = torch.linalg.qr(a @ omega).Q
    for _ in range(power_iters):
        q = torch.linalg.qr(a.T @ q).Q
        q = torch.linalg.qr(a @ q).Q
    ub, s, vh = torch.linalg.svd(q.T @ a, full_matrices=False)
    return (q @ ub)[:, :rank], s[:rank], vh[:rank]


def factor_weights(importance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column weights (√ of the mean importance along each row / column), floored > 0."""
    f = importance.to(torch.float32)
    floor = f.mean().clamp_min(1e-30) * 1e-6
    rows = f.mean(dim=1).clamp_min(floor).sqrt()
    cols = f.mean(dim=0).clamp_min(floor).sqrt()
    return rows, cols


def rank_r(
    a: torch.Tensor,
    rank: int,
    svd: str,
    generator: torch.Generator | None,
    weights: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L₁ (m×r), L₂ (r×n) with L₁L₂ the (row/column-weighted) best rank-r approximation of a."""
    if weights is None:
        u, s, vh = low_rank(a, rank, svd, generator)
        root = s.sqrt()
        return u * root, root[:, None] * vh
    rows, cols = weights
    u, s, vh = low_rank(rows[:, None] * a * cols[None, :], rank, svd, generator)
    root = s.sqrt()
    return (u * root) / rows[:, None], (root[:, None] * vh) / cols[None, :]


def first_factors(
    w: torch.Tensor,
    rank: int,
    importance: torch.Tensor | None = None,
    svd: str = "randomized",
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first iteration's L₁, L₂ from Q = 0: the rank-r factors of W itself, which every
    configuration with the same generator seed shares (:func:`lq_decompose`'s ``first``)."""
    w = w.detach().to(torch.float32)
    weights = None if importance is None else factor_weights(importance)
    return rank_r(w, rank, svd, generator, weights)


def requantize(
    w: torch.Tensor,
    approx: torch.Tensor,
    bits: int,
    block: int,
    scale_dtype: str,
    dq: DQSpec | None,
    root_f: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One iteration's second step: Q = NF(W − L₁L₂) and ‖(√F ⊙) (W − Q − L₁L₂)‖_F, the norm as
    a 0-d tensor (reading it is the caller's choice: on a GPU, a wait for the device)."""
    q = nf_fake(w - approx, bits, block, scale_dtype, dq)
    residual = w - q - approx
    if root_f is not None:
        residual = residual * root_f
    return q, torch.linalg.norm(residual)


def first_errors(
    w: torch.Tensor,
    first: tuple[torch.Tensor, torch.Tensor],
    configs: list[tuple[int, int, str, DQSpec | None]],
    importance: torch.Tensor | None = None,
) -> list[float]:
    """:func:`lq_decompose`'s error after one iteration from Q = 0, for each (bits, block,
    scale_dtype, dq) of ``configs`` sharing the first factors ``first``: the same numbers as
    ``lq_decompose(..., max_iterations=1, first=first).error``, read from the device once."""
    w = w.detach().to(torch.float32)
    root_f = None if importance is None else importance.to(w.device, torch.float32).sqrt()
    approx = first[0] @ first[1]
    norms = [requantize(w, approx, *c, root_f)[1] for c in configs]
    return torch.stack(norms).tolist() if norms else []


@dataclass
class LQResult:
    """The best iterate of an LQ decomposition and the error trace."""

    q: torch.Tensor  # dequantized NF base (float32)
    left: torch.Tensor  # L₁, m × r
    right: torch.Tensor  # L₂, r × n
    error: float  # ‖(√F ⊙) (W − Q − L₁L₂)‖_F of the best iterate
    errors: list[float] = field(default_factory=list)  # one per iteration run
    best_iteration: int = 0  # 1-based

    @property
    def iterations(self) -> int:
        return len(self.errors)


def lq_decompose(
    w: torch.Tensor,
    rank: int,
    bits: int,
    block: int,
    scale_dtype: str = DEFAULT_SCALE_DTYPE,
    max_iterations: int = 20,
    importance: torch.Tensor | None = None,
    svd: str = "randomized",
    start: str = "zero",
    generator: torch.Generator | None = None,
    dq: DQSpec | None = None,
    first: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> LQResult:
    """Alternate L₁L₂ = SVD_r(W − Q) and Q = NF(W − L₁L₂); return the best iterate.

    ``dq``: the absmax values double-quantized (LQ-LoRA's search space), else stored in
    ``scale_dtype``. ``first``: with ``start="zero"``, the first iteration's factors as
    :func:`first_factors` made them, ``generator`` then being in the state that call left it
    in (so that configurations which share the first SVD compute it once)."""
    if svd not in SVD_KINDS:
        raise ValueError(f"svd {svd!r} is not allowed; allowed: {', '.join(SVD_KINDS)}")
    if start not in STARTS:
        raise ValueError(f"start {start!r} is not allowed; allowed: {', '.join(STARTS)}")
    if max_iterations < 1:
        raise ValueError(f"max_iterations {max_iterations} is not allowed; allowed: >= 1")
    w = w.detach().to(torch.float32)
    weights = None if importance is None else factor_weights(importance)
    root_f = None if importance is None else importance.to(w.device, torch.float32).sqrt()
    q = torch.zeros_like(w) if start == "zero" else nf_fake(w, bits, block, scale_dtype, dq)
    best: LQResult | None = None
    errors: list[float] = []
    if first is not None and start != "zero":
        raise ValueError("first factors are only shared from Q = 0 (start='zero')")
    for it in range(1, max_iterations + 1):
        if it == 1 and first is not None:
            left, right = first
        else:
            left, right = rank_r(w - q, rank, svd, generator, weights)
        approx = left @ right
        q, norm = requantize(w, approx, bits, block, scale_dtype, dq, root_f)
        err = float(norm)
        errors.append(err)
        if best is None or err < best.error:
            best = LQResult(q, left, right, err, errors, it)
        if it > 1 and err >= errors[-2]:
            break
    assert best is not None
    best.errors = errors
    return best
