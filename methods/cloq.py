"""CLoQ (Deng et al., 2025): GPTQ base weights and the closed-form calibrated LoRA initialization.

For a layer with weight W (out, in), quantized base Q and calibration inputs X (tokens, in), the
adapter starts at the rank-r correction L = s·B·A that minimises ‖X(W − Q − L)ᵀ‖_F. With any R
such that RᵀR = H = XᵀX, ‖XMᵀ‖_F = ‖RMᵀ‖_F, so the best Lᵀ is R⁻¹ · SVD_r(R(W − Q)ᵀ) and the error
left is the tail √(Σ_{i>r} σ_i²) of the singular values of R(W − Q)ᵀ (Eckart–Young; R is
invertible once H is damped). In PyTorch's (out, in) layout L = (R⁻¹ · SVD_r(R(W − Q)ᵀ))ᵀ.

Choices the paper leaves open, and ours:

- Damping: H + λI with λ = ``damp`` · mean(diag H), ``damp`` = 0.01 (``method.cloq.damp``), the
  same relative damping GPTQ uses by default (GPTQ's own is ``quant.gptq.damp``). It makes R
  invertible and keeps the correction away from input directions the calibration data barely
  visit (which would not generalise).
- Square root: the upper Cholesky factor of the damped H in float64 (with damping its condition
  number is at most about in / damp, so Cholesky is safe). Any R with RᵀR = H gives the same L
  (two such roots differ by an orthogonal factor on the left). Without damping, or should
  Cholesky fail, R = Λ^{1/2}Vᵀ from the eigendecomposition H = VΛVᵀ, eigenvalues below
  1e-10 · λ_max raised to that floor (the count is recorded). One factorization serves the
  layers that share an input (q/k/v, gate/up).
- SVD_r: from the top-r eigenvectors of the smaller Gram matrix of R(W − Q)ᵀ in float64
  (:func:`suite.lora.low_rank`), the same subspace as a full SVD's to rounding, at a fraction of
  its cost on a GPU (7B layers are 4096 x 11008).
- Factors: the closed form fixes only the product; B and A are the balanced SVD factors of
  L / s (√σ on each side, as LoftQ shares them), so B·A = L / s whatever ``lora_alpha`` is and
  the initial s·B·A does not change with it.
- Quantizer: the authors' pipeline, ``magr-gptq``: MagR weight preprocessing (Zhang et al., 2024,
  from the same group; group-wise on the budget's groups, α = 1e-4, 200 proximal iterations, the
  MagR code's defaults, ``quant.magr.*``) and then GPTQ/OPTQ, asymmetric INT-k, group 64
  (``budget.group_size``), 1% damping, blocks of 128, no act-order, group parameters at the
  reference loop's moment (``quant.gptq.*``). The MagR code's GPTQ also refines its result by
  coordinate descent (30 passes at 2 bits, 1 at 3 and 4); here that is an option,
  ``quant.gptq.cd_passes`` (off by default). The correction is fitted to the original W, not to
  MagR's. ``--quantizer`` swaps the base (``gptq`` for plain GPTQ, ``nf`` for an NF base with the
  same calibrated init); the init always uses calibration data. The quick profile shortens
  MagR (``quant.magr.iters``), which its runs record.
- Calibration: the harness's Calibrator, 128 windows x 2048 tokens of the WikiText-2 train split
  in the paper profile (16 x 256 in the quick one); H is collected along the quantized path.

For one layer, given its quantized base and the Gram matrix of its calibration inputs (``prepare``
does this for every target layer along the Calibrator's walk, with the GPTQ base):

    >>> import torch
    >>> from methods.cloq import cloq_init
    >>> from suite.quant.gptq import gptq_quantize
    >>> from suite.quant.qtensor import dequantize
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(512, 64) @ torch.randn(64, 128)  # calibration inputs
    >>> w = torch.randn(32, 128)
    >>> q = dequantize(gptq_quantize(w, x.T @ x, bits=2, group_size=64))
    >>> a, b = cloq_init(w, q, x.T @ x, rank=8, scaling=2.0)
    >>> def output_err(m):
    ...     return round(((x @ (w - m).T).norm() / (x @ w.T).norm()).item(), 1)
    >>> output_err(q), output_err(q + 2.0 * b @ a)  # the base alone, then with s·B·A
    (0.3, 0.2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from methods.base import Method
from suite.spec import Budget, SpecError

if TYPE_CHECKING:
    import torch

EIGEN_FLOOR = 1e-10  # eigenvalues of an undamped Gram matrix are kept >= this times the largest


@dataclass(frozen=True)
class GramRoot:
    """R with RᵀR = H + λI: an upper Cholesky factor, or diag(root) · basisᵀ (float64)."""

    upper: torch.Tensor | None  # (in, in) Cholesky factor, or None
    basis: torch.Tensor | None  # (in, in) eigenvectors of H + λI, where no Cholesky factor
    root: torch.Tensor | None  # (in,) square roots of its (floored) eigenvalues
    clamped: int  # eigenvalues raised to the floor

    def apply(self, m: torch.Tensor) -> torch.Tensor:
        """R @ m for m (in, k)."""
        if self.upper is not None:
            return self.upper @ m
        return self.root[:, None] * (self.basis.T @ m)

    def solve(self, m: torch.Tensor) -> torch.Tensor:
        """R⁻¹ @ m for m (in, k)."""
        import torch

        if self.upper is not None:
            return torch.linalg.solve_triangular(self.upper, m, upper=True)
        return self.basis @ (m / self.root[:, None])


def gram_root(gram: torch.Tensor, damp: float = 0.01) -> GramRoot:
    """R with RᵀR = H + damp·mean(diag H)·I, in float64.

    With damping (damp > 0) the damped matrix is positive definite with condition number at most
    about in / damp, and its Cholesky factor is taken; without, or should Cholesky fail, an
    eigendecomposition with eigenvalues floored at EIGEN_FLOOR times the largest.
    """
    import torch

    h = gram.detach().to(torch.float64)
    h = (h + h.T) / 2
    h.diagonal().add_(damp * h.diagonal().mean())
    if damp > 0:
        upper, info = torch.linalg.cholesky_ex(h, upper=True)
        if int(info) == 0:
            return GramRoot(upper, None, None, 0)
    evals, basis = torch.linalg.eigh(h)
    top = evals[-1].clamp_min(torch.finfo(torch.float64).tiny)
    floor = top * EIGEN_FLOOR
    clamped = int((evals < floor).sum())
    return GramRoot(None, basis, evals.clamp_min(floor).sqrt(), clamped)


def cloq_factors(
    w: torch.Tensor, q: torch.Tensor, root: GramRoot, rank: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(F₁ (out, r), F₂ (r, in)), float64, with L = F₁F₂ minimising ‖R(W − Q − L)ᵀ‖_F."""
    from suite.lora import low_rank

    delta_t = (w.detach().double() - q.detach().double()).T  # (in, out)
    left, right = low_rank(root.apply(delta_t), rank)  # SVD_r(R ΔWᵀ) = left @ right
    return right.T, root.solve(left).T  # Lᵀ = R⁻¹ · left · right


def cloq_correction(w: torch.Tensor, q: torch.Tensor, root: GramRoot, rank: int) -> torch.Tensor:
    """The rank-``rank`` L (out, in), float64, minimising ‖R(W − Q − L)ᵀ‖_F."""
    first, second = cloq_factors(w, q, root, rank)
    return first @ second


def cloq_init(
    w: torch.Tensor,
    q: torch.Tensor,
    gram: torch.Tensor | GramRoot,
    rank: int,
    scaling: float,
    damp: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) in float32 with s·B@A the calibrated correction of ``w`` over its base ``q``."""
    from suite.lora import split_factors

    root = gram if isinstance(gram, GramRoot) else gram_root(gram, damp)
    return split_factors(*cloq_factors(w, q, root, rank), scaling)


@dataclass(frozen=True)
class CLoQConfig:
    damp: float = 0.01  # CLoQ's λ, as a fraction of mean(diag H)

    def __post_init__(self) -> None:
        if not self.damp > 0:
            raise SpecError(f"method.cloq.damp {self.damp} is not allowed; allowed: > 0")


class CLoQ(Method):
    name = "cloq"
    version = "2"  # 2: the magr-gptq base, native lora_alpha = r
    summary = (
        "MagR + GPTQ INT-k base (group 64), closed-form calibrated init "
        "sBA = R^-1 SVD_r(R(W - Q)^T), R^T R = H (Deng et al. 2025)"
    )
    Config = CLoQConfig
    default_quantizer = "magr-gptq"
    init_uses_data = True
    lora_dropout = 0.1
    lora_source = (
        "CLoQ (Deng et al. 2025) trains with an effective LoRA scaling of about 1: alpha = r; "
        "dropout is not stated there: 0.1 assumed, as LoftQ's scripts, whose setup it follows"
    )

    @classmethod
    def native_alpha(cls, bits: float, rank: int) -> float:
        return float(rank)  # s = alpha / r = 1

    def prepare(self, model, budget: Budget, calib, seed: int):
        from methods.layerwise import build_layers, check_bits
        from suite.lora import Prepared
        from suite.quant.qlinear import QLinear
        from suite.quant.qtensor import dequantize

        cfg = self.config
        budget = self.resolve_budget(budget)
        qname = self.quantizer_for(budget)
        bits = check_bits(budget, qname)
        quantizer = self.make_quantizer(budget)
        cache: list = []  # [(gram, root)] of the last Gram matrix: shared inputs are adjacent
        clamped = []

        def build(name, linear, gram):
            if not cache or cache[0][0] is not gram:
                cache[:] = [(gram, gram_root(gram, cfg.damp))]
                clamped.append(cache[0][1].clamped)
            w = linear.weight.detach().float()
            qt = quantizer.quantize(w, bits, budget.group_size, gram=gram)
            a, b = cloq_init(w, dequantize(qt), cache[0][1], budget.rank, budget.scaling)
            return QLinear(qt, a, b, budget.scaling, linear.bias)

        build_layers(model, budget, calib, build, use_grams=True)
        cache.clear()
        info = {
            "calibration": calib.record(),
            "quantizer": qname,
            "damp": cfg.damp,
            "clamped_eigenvalues": sum(clamped),
        }
        return Prepared(model, "packed", qname, info)
