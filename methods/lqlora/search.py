"""LQ-LoRA's search: the ILP allocation of NF configurations, then the decomposition per matrix.

:func:`prepare_lqlora` is :meth:`methods.lqlora.LQLoRA.prepare`'s work (see :mod:`methods.lqlora`
for the method, its budget rule and defaults). The search spaces:

- ``grid="released"``: the released code's (``models/allocation_utils.py``): NF bits
  {2, 3, 4, 8} × double-quantization bits {2, 3, 4, 8} × second-level scale dtype {bfloat16,
  float16, float32} × first-level block {16, 32, 64} × second-level block {16, 64, 256}:
  432 configurations, the absmax values double-quantized as :mod:`suite.quant.dq` ``kind="uint"``.
- ``grid="plain"`` (cheaper): NF bits {2, 3, 4, 8} × block {16, 32, 64, 128, 256}, the absmax
  values stored in the budget's scale dtype: 20 configurations.

``bits_choices`` / ``block_choices`` replace the grid's NF bits / first-level blocks when given.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from methods.lqlora.decompose import first_errors, first_factors, lq_decompose
from methods.lqlora.ilp import NFConfig, allocate
from suite.budget import budget_bytes as total_budget_bytes
from suite.lora import Prepared, find_targets, replace_targets, split_factors
from suite.quant.dq import DQSpec
from suite.quant.nf import quantize_nf
from suite.quant.qlinear import QLinear
from suite.spec import Budget, SpecError

RELEASED_BITS = (2, 3, 4, 8)
RELEASED_DQ_BITS = (2, 3, 4, 8)
RELEASED_DQ_DTYPES = ("bfloat16", "float16", "float32")
RELEASED_BLOCKS = (16, 32, 64)
RELEASED_DQ_BLOCKS = (16, 64, 256)
PLAIN_BITS = (2, 3, 4, 8)
PLAIN_BLOCKS = (16, 32, 64, 128, 256)


def prepare_lqlora(config, model, budget: Budget, calib, seed: int) -> Prepared:
    """Allocate, decompose and quantize every target layer of ``model`` under ``budget``."""
    return _Search(config).prepare(model, budget, calib, seed)


def budget_bytes(shapes: list[tuple[int, int]], budget: Budget) -> tuple[int, str]:
    """The byte budget of the target matrices (:mod:`suite.budget`), and how it was read."""
    limit = total_budget_bytes(shapes, budget.bits, budget.group_size, budget.scale_dtype)
    if float(budget.bits).is_integer():
        rule = f"as int{int(budget.bits)}-g{budget.group_size}-{budget.scale_dtype} (suite.budget)"
        return limit, rule
    return limit, "average stored bits (suite.budget)"


def search_space(cfg, budget: Budget) -> list[NFConfig]:
    """Every configuration of the grid that ``cfg`` names (before matrix widths are checked)."""
    if cfg.grid == "plain":
        bits = cfg.bits_choices or PLAIN_BITS
        blocks = cfg.block_choices or PLAIN_BLOCKS
        return [NFConfig(b, g, budget.scale_dtype) for b in bits for g in blocks]
    bits = cfg.bits_choices or RELEASED_BITS
    blocks = cfg.block_choices or RELEASED_BLOCKS
    return [
        NFConfig(b, g, budget.scale_dtype, DQSpec("uint", b0, g1, dtype))
        for b in bits
        for b0 in RELEASED_DQ_BITS
        for dtype in RELEASED_DQ_DTYPES
        for g in blocks
        for g1 in RELEASED_DQ_BLOCKS
    ]


class _FirstFactors:
    """The first iteration's factors of one matrix per generator seed, made once: from Q = 0
    the first SVD is of W itself, so the configurations that share a seed (every absmax storage
    of one NF bits and block, :meth:`_Search._generator`) share it; 12 SVDs instead of 432 for
    the released grid's first iterations. Off unless ``start="zero"``."""

    def __init__(self, w: torch.Tensor, rank: int, importance, cfg) -> None:
        self.w, self.rank, self.importance, self.cfg = w, rank, importance, cfg
        self.made: dict[int, tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]] = {}

    def get(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The factors for a fresh ``generator``, which is left as the first SVD leaves it."""
        if self.cfg.start != "zero":
            return None
        seed = generator.initial_seed()
        if seed not in self.made:
            factors = first_factors(self.w, self.rank, self.importance, self.cfg.svd, generator)
            self.made[seed] = (factors, generator.get_state())
        factors, state = self.made[seed]
        generator.set_state(state)
        return factors


class _Search:
    def __init__(self, config) -> None:
        self.config = config

    def prepare(self, model, budget: Budget, calib, seed: int) -> Prepared:
        cfg = self.config
        targets = find_targets(model, budget.target_modules)
        fisher = self._fisher(model, targets, calib) if cfg.fisher else None
        names = list(targets)
        shapes = [tuple(targets[n].weight.shape) for n in names]
        limit, rule = budget_bytes(shapes, budget)
        info: dict[str, Any] = {"config": asdict(cfg), "budget_rule": rule}
        if cfg.allocate:
            chosen, ilp_info = self._allocate(targets, fisher, budget, limit, seed)
            info.update(ilp_info)
        else:
            chosen = {
                n: NFConfig(int(budget.bits), budget.group_size, budget.scale_dtype) for n in names
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
                c.dq,
            )
            iters[name] = res.iterations
            qt = quantize_nf(w - res.left @ res.right, c.bits, c.block, c.scale_dtype, dq=c.dq)
            a, b = split_factors(res.left, res.right, budget.scaling)
            return QLinear(qt, a, b, budget.scaling, linear.bias)

        replace_targets(model, budget, build)
        info["iterations"] = iters
        info["stored_bits"] = (
            8.0
            * sum(
                layer.accounted_bytes() for layer in model.modules() if isinstance(layer, QLinear)
            )
            / sum(s[0] * s[1] for s in shapes)
        )
        if calib is not None and cfg.fisher:
            info["calibration"] = calib.record()
        return Prepared(model, "packed", "nf", info)

    @staticmethod
    def _generator(seed: int, index: int, c: NFConfig) -> torch.Generator:
        return torch.Generator().manual_seed(
            seed * 1_000_003 + index * 1009 + c.bits * 31 + c.block
        )  # the same for every absmax storage of (bits, block): their errors compare fairly

    def _one_step_row(self, w, firsts, importance, options, sizes, slack, seed, index):
        """A matrix's row of the ILP table after one iteration from Q = 0 (``ilp_iterations``
        1): the errors :func:`lq_decompose` gives, each group of configurations that shares a
        first SVD read from the device at once (:func:`first_errors`); inf where a
        configuration can never fit."""
        row = [float("inf")] * len(options)
        groups: dict[int, list[int]] = {}
        for k, (c, size) in enumerate(zip(options, sizes, strict=True)):
            if size <= slack:
                groups.setdefault(self._generator(seed, index, c).initial_seed(), []).append(k)
        for ks in groups.values():
            first = firsts.get(self._generator(seed, index, options[ks[0]]))
            assert first is not None  # start="zero"
            settings = [
                (options[k].bits, options[k].block, options[k].scale_dtype, options[k].dq)
                for k in ks
            ]
            for k, err in zip(ks, first_errors(w, first, settings, importance), strict=True):
                row[k] = err**2
        return row

    def _fisher(self, model, targets, calib) -> dict[str, torch.Tensor]:
        from methods.lqlora.fisher import empirical_fisher

        if calib is None:
            raise SpecError(
                "method.lqlora.fisher=true needs calibration data, but none was given; "
                "allowed: fisher=false, or a run with calibration"
            )
        return empirical_fisher(model, targets, calib.windows, self.config.fisher_windows)

    def _allocate(self, targets, fisher, budget: Budget, limit: int, seed: int):
        cfg = self.config
        names = list(targets)
        space = search_space(cfg, budget)
        options = {n: [c for c in space if targets[n].in_features % c.block == 0] for n in names}
        for n in names:
            if not options[n]:
                blocks = sorted({c.block for c in space})
                raise SpecError(
                    f"no block size of the lqlora search space {blocks} divides the input width "
                    f"{targets[n].in_features} of {n}; allowed: method.lqlora.block_choices "
                    "with a divisor"
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
            importance = None if fisher is None else fisher[n]
            firsts = _FirstFactors(w, budget.rank, importance, cfg)
            if iterations == 1 and cfg.start == "zero":
                costs.append(
                    self._one_step_row(w, firsts, importance, options[n], sizes[i], slack, seed, i)
                )
                continue
            for c, size in zip(options[n], sizes[i], strict=True):
                if size > slack:  # can never fit: skip the work, keep the ILP's shape
                    row.append(float("inf"))
                    continue
                generator = self._generator(seed, i, c)
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
                    generator,
                    c.dq,
                    first=firsts.get(generator),
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
            "ilp_bound_bytes": result.bound_bytes,
            "ilp_iterations": iterations,
            "ilp_candidates": sum(len(k) for k in keep),
            "search_space": len(space),
        }
        return chosen, info
