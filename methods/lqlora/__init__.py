"""LQ-LoRA (Guo et al., ICLR 2024): W ≈ Q + L₁L₂, NF configurations allocated per matrix by ILP.

Every target weight is decomposed by alternating a rank-r SVD of W − Q and an NF re-quantization
of W − L₁L₂ (:mod:`.decompose`); an integer linear program picks one NF configuration (bits,
block, storage of the absmax values) per matrix so that the summed squared reconstruction error
is smallest within the byte budget (:mod:`.ilp`); optionally the errors and SVDs are weighted by
the empirical Fisher information of the target weights on calibration data (:mod:`.fisher`).
The adapter starts at the correction: s·B·A = L₁L₂ (balanced factors, see
:func:`suite.lora.split_factors`), so the initial model is Q + L₁L₂ whatever lora_alpha is.

Choices the paper leaves open, and ours (each a field of :class:`LQLoRAConfig`):

- **Budget** (:mod:`suite.budget`, the same for every method): an integer ``--bits b`` allows
  the bytes of a plain INT-b base with one scale in ``budget.scale_dtype`` (float16) and one b-bit
  zero per group of ``budget.group_size``, i.e. b + (16 + b)/g bits per weight; a fractional
  ``--bits`` (e.g. 2.75) is the average bits per weight itself. Storage is counted under that
  one accounting (codes, absmax values or their double-quantized form; code books aside), which
  ``quant/effective_bits`` reports; the ILP allocates within exactly these bytes. The recorded
  ``budget_bits`` and ``budget_rule`` say which it was.
- **Search space** (``grid``): ``"released"`` (default), the released code's 432
  configurations: NF bits {2, 3, 4, 8} × double quantization of the absmax values (unsigned
  {2, 3, 4, 8}-bit codes, second-level scales in bfloat16 / float16 / float32, second-level
  blocks {16, 64, 256}) × first-level blocks {16, 32, 64} (:mod:`suite.quant.dq`,
  ``kind="uint"``). ``"plain"``, a cheaper labelled alternative: NF bits {2, 3, 4, 8} × blocks
  {16, 32, 64, 128, 256} with the absmax values in the budget's scale dtype (20 configurations).
  ``bits_choices`` / ``block_choices`` narrow either grid. Blocks that do not divide a matrix's
  input width are left out for that matrix; a last second-level block may be partial (the
  released code needs whole blocks).
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
    ...     {"max_iterations": "2", "grid": "plain", "bits_choices": "2,4", "block_choices": "64"}
    ... )
    >>> method.config.bits_choices
    (2, 4)
    >>> model, _ = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> prepared = method.prepare(model, Budget(bits=2.75, rank=8), calib=None, seed=0)
    >>> prepared.info["allocation_counts"], round(prepared.info["stored_bits"], 2)
    ({'nf2-b64': 11, 'nf4-b64': 3}, 2.75)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from methods.base import Method
from suite.spec import Budget, SpecError

GRIDS = ("released", "plain")
NF_BITS = (2, 3, 4, 8)  # the NF widths quantize_nf stores


def _ints(value: Any, name: str) -> tuple[int, ...]:
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        return tuple(int(str(p).strip()) for p in parts if str(p).strip())
    except ValueError:
        raise SpecError(
            f"method.lqlora.{name} {value!r} is not allowed; allowed: integers, e.g. 2,3,4"
        ) from None


@dataclass(frozen=True)
class LQLoRAConfig:
    allocate: bool = True  # ILP allocation of a configuration per matrix (paper §3.2)
    grid: str = "released"  # the released code's 432 configurations; "plain": 20, cheaper
    bits_choices: tuple[int, ...] = ()  # empty: the grid's NF bits
    block_choices: tuple[int, ...] = ()  # empty: the grid's first-level blocks
    max_iterations: int = 100  # released code's default; stops when the error stops falling
    ilp_iterations: int = 0  # 0: as max_iterations
    fisher: bool = False  # Fisher-weighted variant (paper §3.3)
    fisher_windows: int = 0  # 0: every calibration window
    svd: str = "randomized"
    start: str = "zero"
    ilp_time_limit: float = 300.0  # seconds for the solver

    def __post_init__(self) -> None:
        from methods.lqlora.decompose import STARTS, SVD_KINDS

        bits = _ints(self.bits_choices, "bits_choices")
        blocks = _ints(self.block_choices, "block_choices")
        object.__setattr__(self, "bits_choices", bits)
        object.__setattr__(self, "block_choices", blocks)
        if not set(bits) <= set(NF_BITS):
            raise SpecError(f"method.lqlora.bits_choices {bits} is not allowed; allowed: 2,3,4,8")
        if any(b <= 0 for b in blocks):
            raise SpecError(f"method.lqlora.block_choices {blocks}: allowed: positive integers")
        checks = [
            (self.grid in GRIDS, "grid", ", ".join(GRIDS)),
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
    version = "2"  # 2: the released search space within the byte budget
    summary = (
        "W = Q + L1L2 by alternating SVD and NF re-quantization; NF bits, blocks and absmax "
        "double quantization per matrix by ILP under the byte budget; Fisher-weighted option "
        "(Guo et al. 2024)"
    )
    Config = LQLoRAConfig
    default_quantizer = "nf"
    fractional_bits = True
    lora_alpha = 16.0
    lora_dropout = 0.0
    lora_source = (
        "LQ-LoRA's models/lora_utils.py prepare_model_for_lora (lora_alpha 16) and "
        "scripts/c4_lora.sh (--lora_dropout 0.0)"
    )

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

        budget = self.resolve_budget(budget)
        self.check_budget(budget)
        return prepare_lqlora(self.config, model, budget, calib, seed)
