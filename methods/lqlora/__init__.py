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

from dataclasses import asdict, dataclass
from typing import Any

import torch

from methods.base import Method
from methods.lqlora.decompose import STARTS, SVD_KINDS, lq_decompose
from methods.lqlora.ilp import PAPER_BITS, PAPER_BLOCKS, NFConfig, allocate, candidates
from suite.lora import Prepared, find_targets, replace_targets, split_factors
from suite.quant.nf import quantize_nf
from suite.quant.qlinear import QLinear
from suite.quant.qtensor import SCALE_DTYPES
from suite.spec import Budget, SpecError


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


def budget_bytes(shapes: list[tuple[int, int]], budget: Budget) -> tuple[int, str]:
    """The byte budget of the target matrices, and how it was read (see the module docs)."""
    bits = float(budget.bits)
    if bits.is_integer():
        ref = NFConfig(int(bits), budget.group_size, "float32")
        return sum(ref.nbytes(s) for s in shapes), f"as nf{int(bits)}-b{budget.group_size}-fp32"
    numel = sum(s[0] * s[1] for s in shapes)
    return int(bits * numel / 8), "average stored bits"


class LQLoRA(Method):
    name = "lqlora"
    Config = LQLoRAConfig
    default_quantizer = "nf"

    def needs_calibration_for(self, budget: Budget) -> bool:
        """Only the Fisher-weighted variant reads calibration data."""
        return self.config.fisher

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

    def prepare(self, model, budget: Budget, calib, seed: int) -> Prepared:
        cfg: LQLoRAConfig = self.config
        self.check_budget(budget)
        targets = find_targets(model, budget.target_modules)
        fisher = self._fisher(model, targets, calib) if cfg.fisher else None
        names = list(targets)
        shapes = [tuple(targets[n].weight.shape) for n in names]
        limit, rule = budget_bytes(shapes, budget)
        info: dict[str, Any] = {"config": asdict(self.config), "budget_rule": rule}
        if cfg.allocate:
            chosen, ilp_info = self._allocate(targets, fisher, budget, limit, seed)
            info.update(ilp_info)
        else:
            chosen = {
                n: NFConfig(int(budget.bits), budget.group_size, cfg.scale_dtype) for n in names
            }
        info["budget_bits"] = 8.0 * limit / sum(s[0] * s[1] for s in shapes)
        info["allocation"] = {n: chosen[n].label for n in names}
        counts: dict[str, int] = {}
        for c in chosen.values():
            counts[c.label] = counts.get(c.label, 0) + 1
        info["allocation_counts"] = dict(sorted(counts.items()))
        iters: dict[str, int] = {}
        index = {n: i for i, n in enumerate(names)}

        def build(name: str, linear) -> QLinear:
            c = chosen[name]
            w = linear.weight.detach().float()
            res = lq_decompose(
                w,
                budget.rank,
                c.bits,
                c.block,
                c.scale_dtype,
                cfg.max_iterations,
                None if fisher is None else fisher[name],
                cfg.svd,
                cfg.start,
                self._generator(seed, index[name], c),
            )
            iters[name] = res.iterations
            qt = quantize_nf(w - res.left @ res.right, c.bits, c.block, c.scale_dtype)
            a, b = split_factors(res.left, res.right, budget.scaling)
            return QLinear(qt, a, b, budget.scaling, linear.bias)

        replace_targets(model, budget, build)
        info["iterations"] = iters
        info["stored_bits"] = (
            8.0
            * sum(layer.base_bytes() for layer in model.modules() if isinstance(layer, QLinear))
            / sum(s[0] * s[1] for s in shapes)
        )
        if calib is not None and cfg.fisher:
            info["calibration"] = calib.record()
        return Prepared(model, "packed", "nf", info)

    @staticmethod
    def _generator(seed: int, index: int, c: NFConfig) -> torch.Generator:
        return torch.Generator().manual_seed(
            seed * 1_000_003 + index * 1009 + c.bits * 31 + c.block
        )

    def _fisher(self, model, targets, calib) -> dict[str, torch.Tensor]:
        from methods.lqlora.fisher import empirical_fisher

        if calib is None:
            raise SpecError(
                "method.lqlora.fisher=true needs calibration data, but none was given; "
                "allowed: fisher=false, or a run with calibration"
            )
        return empirical_fisher(model, targets, calib.windows, self.config.fisher_windows)

    def _allocate(self, targets, fisher, budget: Budget, limit: int, seed: int):
        cfg: LQLoRAConfig = self.config
        names = list(targets)
        options = {
            n: candidates(
                targets[n].in_features, cfg.bits_choices, cfg.block_choices, cfg.scale_dtype
            )
            for n in names
        }
        for n in names:
            if not options[n]:
                raise SpecError(
                    f"no block size in method.lqlora.block_choices {cfg.block_choices} divides "
                    f"the input width {targets[n].in_features} of {n}; allowed: add a divisor"
                )
        shapes = {n: tuple(targets[n].weight.shape) for n in names}
        sizes = [[c.nbytes(shapes[n]) for c in options[n]] for n in names]
        floor = sum(min(s) for s in sizes)
        if floor > limit:
            raise SpecError(
                f"bits {budget.bits} is below the smallest storage the search space allows "
                f"({8.0 * floor / sum(s[0] * s[1] for s in shapes.values()):.4f} bits); allowed: "
                "a larger budget, or wider method.lqlora.block_choices"
            )
        iterations = cfg.ilp_iterations or cfg.max_iterations
        costs: list[list[float]] = []
        for i, n in enumerate(names):
            w = targets[n].weight.detach().float()
            slack = limit - floor + min(sizes[i])  # the most this matrix can ever take
            row = []
            for c, size in zip(options[n], sizes[i], strict=True):
                if size > slack:  # can never fit: skip the work, keep the ILP's shape
                    row.append(float("inf"))
                    continue
                res = lq_decompose(
                    w,
                    budget.rank,
                    c.bits,
                    c.block,
                    c.scale_dtype,
                    iterations,
                    None if fisher is None else fisher[n],
                    cfg.svd,
                    cfg.start,
                    self._generator(seed, i, c),
                )
                row.append(res.error**2)
            costs.append(row)
        keep = [[k for k, v in enumerate(row) if v != float("inf")] for row in costs]
        result = allocate(
            [[costs[i][k] for k in ks] for i, ks in enumerate(keep)],
            [[sizes[i][k] for k in ks] for i, ks in enumerate(keep)],
            limit,
            cfg.ilp_time_limit,
        )
        chosen = {n: options[n][keep[i][result.choice[i]]] for i, n in enumerate(names)}
        info = {
            "ilp_objective": result.objective,
            "ilp_iterations": iterations,
            "ilp_candidates": sum(len(k) for k in keep),
        }
        return chosen, info
