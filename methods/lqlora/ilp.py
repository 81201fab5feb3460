"""LQ-LoRA's bit allocation: one NF configuration per matrix, by integer programming.

Guo et al. (ICLR 2024, §3.2) choose, for every weight matrix i, one quantization configuration c
out of a search space, minimising the summed reconstruction error Σᵢ err(i, c) subject to the
total storage Σᵢ size(i, c) staying within an average-bits budget. With binary x_ic and
Σ_c x_ic = 1 this is a multiple-choice knapsack, solved here exactly by SciPy's ``milp`` (HiGHS
branch and bound, relative gap 0) instead of the paper's commercial solver.

Choices the paper leaves open, and ours:

- **Storage counted** is exactly what :meth:`suite.quant.qtensor.QTensor.accounted_nbytes` will
  report for the packed result, the one accounting of :mod:`suite.budget`: the packed codes, and
  one absmax per block in the scale dtype or the double-quantized absmax values (codes at their
  packed width, second-level scales, the offset); code books aside. The paper's storage formula,
  b + b₀/B₀ + b₁/(B₀·B₁) bits per weight, is this without the packing's rounding and the offset.
- **Search space**: given by the caller (:func:`methods.lqlora.search.search_space`).
- **Tolerance**: the solver's answer is checked in whole bytes. HiGHS accepts a constraint
  violated within its feasibility tolerance (about 1e-6 of the budget: tens of bytes on a
  30 MB budget), so its answer can exceed the budget; the bound is then tightened by the
  excess and the problem solved again. Where four such tightenings have not cleared the
  tolerance (SmolLM2-135M's table at 2 bits on an H200 exceeded it five times), the margin
  below the budget doubles at each further solve, at most :data:`ATTEMPTS` solves in all. The
  answer is then optimal under that tightened bound (``Allocation.bound_bytes``).

    >>> from methods.lqlora.ilp import allocate
    >>> allocate(costs=[[4.0, 1.0], [9.0, 2.0]], sizes=[[10, 20], [10, 20]], budget=30).choice
    [0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suite.budget import DEFAULT_SCALE_DTYPE, packed_nbytes, scale_bits
from suite.quant.dq import DQSpec
from suite.spec import SpecError

ATTEMPTS = 16  # solves at most: four tightenings by the excess, then doubling margins


@dataclass(frozen=True)
class NFConfig:
    """One point of the search space: NF-``bits`` with absmax blocks of ``block`` weights, the
    absmax values stored in ``scale_dtype`` or double-quantized by ``dq``."""

    bits: int
    block: int
    scale_dtype: str = DEFAULT_SCALE_DTYPE
    dq: DQSpec | None = None

    @property
    def label(self) -> str:
        base = f"nf{self.bits}-b{self.block}"
        return base if self.dq is None else f"{base}-{self.dq.label}"

    def nbytes(self, shape: tuple[int, int]) -> int:
        """Bytes of the packed QTensor under the one accounting (codes and absmax storage)."""
        numel = shape[0] * shape[1]
        groups = numel // self.block
        if self.dq is not None:
            return packed_nbytes(numel, self.bits) + self.dq.nbytes(groups)
        return packed_nbytes(numel, self.bits) + groups * scale_bits(self.scale_dtype) // 8


@dataclass(frozen=True)
class Allocation:
    choice: list[int]  # per matrix, the index of its chosen configuration
    total_bytes: int
    budget_bytes: int
    objective: float  # Σ cost of the choice
    bound_bytes: int  # the bound of the solve that gave it (below the budget: the tolerance's)


def allocate(
    costs: list[list[float]],
    sizes: list[list[int]],
    budget: int,
    time_limit: float = 120.0,
) -> Allocation:
    """Minimise Σᵢ costs[i][cᵢ] subject to Σᵢ sizes[i][cᵢ] ≤ budget (bytes), one cᵢ per matrix."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_array

    if len(costs) != len(sizes) or any(len(c) != len(s) for c, s in zip(costs, sizes, strict=True)):
        raise ValueError("costs and sizes must have the same shape (matrices × configurations)")
    if any(len(c) == 0 for c in costs):
        raise ValueError("every matrix needs at least one configuration")
    smallest = sum(min(s) for s in sizes)
    if smallest > budget:
        raise SpecError(
            f"the budget of {budget} bytes is below the smallest storage of the search space "
            f"({smallest} bytes); allowed: a larger budget, or wider blocks / fewer bits"
        )
    offsets = np.cumsum([0] + [len(c) for c in costs])
    n = int(offsets[-1])
    c = np.concatenate([np.asarray(x, dtype=np.float64) for x in costs])
    c = c / max(float(np.abs(c).max()), 1e-300)  # a scale-free objective for the solver
    size = np.concatenate([np.asarray(s, dtype=np.float64) for s in sizes])
    rows = np.repeat(np.arange(len(costs)), np.diff(offsets))
    one_each = csr_array((np.ones(n), (rows, np.arange(n))), shape=(len(costs), n))
    bound = float(budget)
    for attempt in range(ATTEMPTS):
        solved_at = int(bound)
        result = milp(
            c,
            integrality=np.ones(n),
            bounds=Bounds(0, 1),
            constraints=[
                LinearConstraint(one_each, 1, 1),
                LinearConstraint((size / budget)[None, :], 0, bound / budget),
            ],
            options={"mip_rel_gap": 0.0, "time_limit": time_limit},
        )
        if result.x is None:
            raise RuntimeError(f"the bit-allocation ILP found no solution: {result.message}")
        x = np.round(result.x).astype(int)
        choice = [int(np.argmax(x[offsets[i] : offsets[i + 1]])) for i in range(len(costs))]
        total = sum(int(sizes[i][k]) for i, k in enumerate(choice))
        if total <= budget:
            objective = sum(float(costs[i][k]) for i, k in enumerate(choice))
            return Allocation(choice, total, budget, objective, solved_at)
        excess, margin = total - budget, budget - bound
        # the solver's tolerance let it exceed the bound: tighten by the excess, then by doubling
        bound -= excess if attempt < 4 else max(excess, margin)
    raise RuntimeError(
        f"the bit-allocation ILP exceeded its budget of {budget} bytes in {ATTEMPTS} solves, the "
        f"last by {total - budget} bytes under a bound of {solved_at}; allowed: a larger "
        "budget or a smaller search space (method.lqlora.bits_choices, block_choices)"
    )
