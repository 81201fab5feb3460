"""LQ-LoRA (Guo et al., ICLR 2024): W ≈ Q + L₁L₂, NF bits and blocks allocated per matrix by ILP.

Every target weight is decomposed by alternating a rank-r SVD of W − Q and an NF re-quantization
of W − L₁L₂ (:mod:`.decompose`); an integer linear program picks one (bits, block) NF
configuration per matrix so that the summed squared reconstruction error is smallest within an
average-bits budget (:mod:`.ilp`); optionally the errors and SVDs are weighted by the empirical
Fisher information of the target weights on calibration data (:mod:`.fisher`). The adapter
starts at the correction: s·B·A = L₁L₂ (balanced factors, see :func:`suite.lora.split_factors`),
so the initial model is Q + L₁L₂ whatever lora_alpha is.

Choices the paper leaves open, and ours (each a field of :class:`LQLoRAConfig`):

- **Budget.** A fractional ``--bits`` (e.g. 2.75) is the average stored bits per target weight,
  counting the absmax values and code books (what ``quant/effective_bits`` reports). An integer
  ``--bits b`` is read as "the bytes a uniform NF-b base with the budget's group size and float32
  absmax stores", i.e. what qlora and loftq store at b bits (≈ b + 32/group_size), so lqlora is
  compared with them at equal storage. The recorded ``budget_bits`` says which it was.
- **Absmax storage**: ``scale_dtype = "float16"`` (the paper stores 8-bit double-quantized absmax
  values; our QTensor stores them in a float dtype, and float16 is the closest in cost). NF4 with
  block 64 then costs 4.25 bits; NF2 with block 64, 2.25.
- **Search space**: the paper's bits (2, 3, 4, 8) × blocks (16, 32, 64, 128, 256); blocks that do
  not divide a matrix's input width are left out for that matrix.
- **Iterations**: at most ``max_iterations`` = 100 (the released code's default), stopping when
  the error stops falling, keeping the best iterate. The ILP's error table uses the same
  decomposition with ``ilp_iterations`` (0: the same as ``max_iterations``, as the paper does);
  a smaller value makes the table cheaper (1 measures LoftQ-like one-step errors).
- **ILP objective**: Σ ‖W − Q − L₁L₂‖²_F (Fisher-weighted: Σ ‖√F ⊙ (W − Q − L₁L₂)‖²_F), as the
  released code; ``allocate = False`` skips the ILP and uses NF-b with the budget's group size
  for every matrix (integer budgets only).
- **Fisher** (``fisher = True``): squared gradients of the LM loss over ``fisher_windows``
  calibration windows (0: all), with the run's calibration data; the method then needs data.
- **SVD**: randomized (10 oversampling columns, 2 power iterations, seeded), as the released code;
  ``svd = "exact"`` for a full SVD. Start from Q = 0 (``start = "zero"``, the paper).

    >>> import torch
    >>> from methods.lqlora import LQLoRA
    >>> from suite import models
    >>> from suite.spec import Budget
    >>> method = LQLoRA.from_overrides(
    ...     {"max_iterations": "2", "bits_choices": "2,4", "block_choices": "64"}
    ... )
    >>> method.config.bits_choices
    (2, 4)
    >>> model, _ = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> prepared = method.prepare(model, Budget(bits=2.75, rank=8), calib=None, seed=0)
    >>> prepared.info["allocation_counts"], round(prepared.info["stored_bits"], 2)
    ({'nf2-b64': 12, 'nf4-b64': 2}, 2.7)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from methods.base import Method
from suite.spec import Budget, SpecError

PAPER_BITS = (2, 3, 4, 8)  # the released code's NF bit widths
PAPER_BLOCKS = (16, 32, 64, 128, 256)  # and its first-level block sizes


def _ints(value: Any, name: str) -> tuple[int, ...]:
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        out = tuple(int(str(p).strip()) for p in parts if str(p).strip())
    except ValueError:
        raise SpecError(
            f"method.lqlora.{name} {value!r} is not allowed; allowed: integers, e.g. 2,3,4"
        ) from None
    if not out:
        raise SpecError(f"method.lqlora.{name} is empty; allowed: at least one value")
    return out


@dataclass(frozen=True)
class LQLoRAConfig:
    allocate: bool = True  # ILP allocation of (bits, block) per matrix (paper §3.2)
    bits_choices: tuple[int, ...] = PAPER_BITS
    block_choices: tuple[int, ...] = PAPER_BLOCKS
    scale_dtype: str = "float16"
    max_iterations: int = 100  # released code's default; stops when the error stops falling
    ilp_iterations: int = 0  # 0: as max_iterations
    fisher: bool = False  # Fisher-weighted variant (paper §3.3)
    fisher_windows: int = 0  # 0: every calibration window
    svd: str = "randomized"
    start: str = "zero"
    ilp_time_limit: float = 300.0  # seconds for the solver

    def __post_init__(self) -> None:
        from methods.lqlora.decompose import STARTS, SVD_KINDS
        from suite.quant.qtensor import SCALE_DTYPES

        bits = _ints(self.bits_choices, "bits_choices")
        blocks = _ints(self.block_choices, "block_choices")
        object.__setattr__(self, "bits_choices", bits)
        object.__setattr__(self, "block_choices", blocks)
        if not set(bits) <= set(PAPER_BITS):
            raise SpecError(f"method.lqlora.bits_choices {bits} is not allowed; allowed: 2,3,4,8")
        if any(b <= 0 for b in blocks):
            raise SpecError(f"method.lqlora.block_choices {blocks}: allowed: positive integers")
        checks = [
            (self.scale_dtype in SCALE_DTYPES, "scale_dtype", ", ".join(SCALE_DTYPES)),
            (self.max_iterations >= 1, "max_iterations", ">= 1"),
            (self.ilp_iterations >= 0, "ilp_iterations", ">= 0 (0: as max_iterations)"),
            (self.fisher_windows >= 0, "fisher_windows", ">= 0 (0: all)"),
            (self.svd in SVD_KINDS, "svd", ", ".join(SVD_KINDS)),
            (self.start in STARTS, "start", ", ".join(STARTS)),
            (self.ilp_time_limit > 0, "ilp_time_limit", "> 0"),
        ]
        for ok, name, allowed in checks:
            if not ok:
                raise SpecError(
                    f"method.lqlora.{name} {getattr(self, name)!r} is not allowed; "
                    f"allowed: {allowed}"
                )


class LQLoRA(Method):
    name = "lqlora"
    summary = (
        "W = Q + L1L2 by alternating SVD and NF re-quantization; NF bits/blocks per matrix by ILP "
        "under an average-bits budget; Fisher-weighted option (Guo et al. 2024)"
    )
    Config = LQLoRAConfig
    default_quantizer = "nf"
    fractional_bits = True

    def needs_calibration_for(self, budget: Budget) -> bool:
        """Only the Fisher-weighted variant reads calibration data."""
        return self.config.fisher

    def quant_sections(self, budget: Budget) -> tuple[str, ...]:
        """None: LQ-LoRA allocates its own NF configurations (``method.lqlora.*``)."""
        return ()

    def check_budget(self, budget: Budget) -> None:
        if (budget.quantizer or "nf") != "nf":
            raise SpecError(
                f"quantizer '{budget.quantizer}' is not allowed for lqlora; allowed: nf "
                "(LQ-LoRA allocates NF configurations)"
            )
        if not float(budget.bits).is_integer() and not self.config.allocate:
            raise SpecError(
                f"bits {budget.bits} is fractional, which needs method.lqlora.allocate=true; "
                "allowed: an integer budget, or allocate=true"
            )

    def prepare(self, model, budget: Budget, calib, seed: int):
        from methods.lqlora.search import prepare_lqlora

        self.check_budget(budget)
        return prepare_lqlora(self.config, model, budget, calib, seed)
