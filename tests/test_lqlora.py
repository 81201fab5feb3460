"""LQ-LoRA: beats LoftQ's one step; the ILP is exact and within budget; the released search
space (432 configurations with double-quantized absmax values); Fisher; s is honoured."""

import copy
import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from methods.lqlora import LQLoRA
from methods.lqlora.decompose import factor_weights, lq_decompose, nf_fake
from methods.lqlora.fisher import empirical_fisher
from methods.lqlora.ilp import NFConfig, allocate
from methods.lqlora.search import search_space
from suite.budget import budget_bytes
from suite.calibration import build_calibration
from suite.init_metrics import init_metrics
from suite.lora import find_targets
from suite.quant.dq import DQSpec
from suite.quant.nf import quantize_nf
from suite.quant.qtensor import dequantize
from suite.spec import Budget, CalibSpec, SpecError
from suite.sweep import build_sweep

FAST = {
    "max_iterations": "4",
    "grid": "plain",
    "bits_choices": "2,3,4",
    "block_choices": "32,64,128",
}


pytestmark = pytest.mark.usefixtures("one_thread")


def originals(model, budget):
    return {
        n: m.weight.detach().clone() for n, m in find_targets(model, budget.target_modules).items()
    }


def loftq_one_step(w: torch.Tensor, rank: int, bits: int, block: int) -> float:
    """LoftQ with T = 1: Q = NF(W), correction = SVD_r(W − Q); the relative weight error."""
    q = dequantize(quantize_nf(w, bits, block))
    u, s, vh = torch.linalg.svd((w - q).double(), full_matrices=False)
    corr = ((u[:, :rank] * s[:rank]) @ vh[:rank]).float()
    return float(torch.linalg.norm(w - q - corr) / torch.linalg.norm(w))


@pytest.mark.parametrize(
    ("bits", "block", "dtype", "dq"),
    [
        (2, 64, "float32", None),
        (8, 16, "float16", None),
        (3, 32, "float16", DQSpec("uint", 4, 16, "bfloat16")),
        (2, 64, "float16", DQSpec("uint", 8, 256, "float32")),  # a partial second-level block
    ],
)
def test_fake_quantization_and_byte_count_equal_the_packed_qtensor(bits, block, dtype, dq):
    w = torch.randn(24, 128, generator=torch.Generator().manual_seed(bits))
    qt = quantize_nf(w, bits, block, dtype, dq=dq)
    assert torch.equal(nf_fake(w, bits, block, dtype, dq), dequantize(qt))
    assert NFConfig(bits, block, dtype, dq).nbytes((24, 128)) == qt.accounted_nbytes()


def test_released_grid_is_the_released_enumeration():
    """models/allocation_utils.py of HanGuo97/lq-lora: b × b0 × b1 × B0 × B1, 432 configs."""
    expected = set()
    for b in (2, 3, 4, 8):
        for b0 in (2, 3, 4, 8):
            for b1 in ("bfloat16", "float16", "float32"):
                for block0 in (16, 32, 64):
                    for block1 in (16, 64, 256):
                        expected.add((b, b0, b1, block0, block1))
    space = search_space(LQLoRA().config, Budget(bits=3))
    got = {(c.bits, c.dq.bits, c.dq.scale_dtype, c.block, c.dq.block) for c in space}
    assert len(space) == 432 and got == expected
    assert all(c.dq.kind == "uint" for c in space)
    plain = search_space(LQLoRA.from_overrides({"grid": "plain"}).config, Budget(bits=3))
    assert len(plain) == 20 and all(c.dq is None and c.scale_dtype == "float16" for c in plain)


def test_double_quantized_size_is_the_released_formula():
    """numel · (b + b0/B0 + b1/(B0·B1)) bits, plus the float32 offset, when blocks divide."""
    shape = (256, 1024)
    for c in search_space(LQLoRA().config, Budget(bits=3)):
        b1 = 32 if c.dq.scale_dtype == "float32" else 16
        bits = c.bits + c.dq.bits / c.block + b1 / (c.block * c.dq.block)
        assert 8 * c.nbytes(shape) == shape[0] * shape[1] * bits + 32, c.label


def test_released_grid_allocates_within_the_int_budget(tiny):
    model, _ = tiny
    budget = Budget(bits=2, rank=8, target_modules=("q_proj", "down_proj"))
    orig = originals(model, budget)
    cfg = {"max_iterations": "1", "bits_choices": "2,3", "block_choices": "64"}
    prepared = LQLoRA.from_overrides(cfg).prepare(copy.deepcopy(model), budget, None, seed=0)
    metrics, _ = init_metrics(prepared, orig, budget=budget)
    shapes = [tuple(w.shape) for w in orig.values()]
    limit = budget_bytes(shapes, 2, 64, "float16")
    used = sum(layer.accounted_bytes() for layer in prepared.layers().values())
    space = search_space(LQLoRA.from_overrides(cfg).config, budget)
    cheapest = sum(min(c.nbytes(shape) for c in space) for shape in shapes)
    assert cheapest < used <= limit  # the ILP spends spare bytes, never more than the budget
    assert metrics["quant/effective_bits"] <= metrics["quant/budget_bits"] == 2 + 18 / 64
    assert prepared.info["search_space"] == 2 * 36  # NF2/NF3 at block 64, every DQ setting
    assert all("-dq" in label for label in prepared.info["allocation"].values())


def test_decomposition_beats_loftq_one_step_on_real_weights(smollm2):
    model, _ = smollm2
    block0 = model.model.layers[0]
    for name in ("self_attn.q_proj", "self_attn.k_proj", "mlp.down_proj"):
        w = block0.get_submodule(name).weight.detach()
        res = lq_decompose(
            w, 16, 2, 64, max_iterations=6, generator=torch.Generator().manual_seed(0)
        )
        lq = res.error / float(torch.linalg.norm(w))
        loftq = loftq_one_step(w, 16, 2, 64)
        assert lq <= loftq, (name, lq, loftq)
        assert res.error == min(res.errors)  # the best iterate is kept


def test_method_weight_error_at_most_loftq_one_step(tiny):
    """Same storage as LoftQ (NF2, block 64, float32 absmax, no allocation): lower weight error."""
    model, _ = tiny
    budget = Budget(bits=2, rank=8, scale_dtype="float32")
    orig = originals(model, budget)
    cfg = {"allocate": "false", "max_iterations": "8"}
    prepared = LQLoRA.from_overrides(cfg).prepare(copy.deepcopy(model), budget, None, seed=0)
    metrics, _ = init_metrics(prepared, orig, budget=budget)
    loftq = np.mean([loftq_one_step(w, 8, 2, 64) for w in orig.values()])
    assert metrics["init/weight_err"] <= loftq
    assert metrics["quant/effective_bits"] == 2.5  # 2 + 32/64, code books aside


def test_ilp_finds_the_brute_force_optimum():
    rng = np.random.default_rng(0)
    for _ in range(25):
        costs = rng.random((4, 3)).tolist()
        sizes = rng.integers(10, 100, (4, 3)).tolist()
        budget = int(rng.integers(sum(map(min, sizes)), sum(map(max, sizes)) + 1))
        feasible = [
            (sum(costs[i][k] for i, k in enumerate(ks)), ks)
            for ks in itertools.product(range(3), repeat=4)
            if sum(sizes[i][k] for i, k in enumerate(ks)) <= budget
        ]
        best = min(v for v, _ in feasible)
        found = allocate(costs, sizes, budget)
        assert found.objective == pytest.approx(best, abs=1e-12)
        assert found.total_bytes == sum(sizes[i][k] for i, k in enumerate(found.choice)) <= budget
    with pytest.raises(SpecError, match="below the smallest storage"):
        allocate([[1.0, 2.0]], [[10, 20]], 9)


def test_ilp_answer_past_the_solvers_tolerance_is_tightened_into_the_budget(monkeypatch):
    """A solver that accepts the byte row up to 31 bytes past its bound, as HiGHS does within its
    feasibility tolerance: totals of budget + 16, 8, 4, 2, 1 each pass it in turn, so five
    tightenings by the excess alone (the earlier rule, which then gave up) never reach the
    budget; the doubling margins do, and the answer is the best one under the final bound."""
    import scipy.optimize

    real = scipy.optimize.milp
    budget, slack = 10_000, 31
    calls = []

    def loose(c, integrality, bounds, constraints, options):
        one_each, row = constraints
        calls.append(row.ub[0] * budget)
        wider = scipy.optimize.LinearConstraint(row.A, 0, row.ub + slack / budget)
        return real(
            c,
            integrality=integrality,
            bounds=bounds,
            constraints=[one_each, wider],
            options=options,
        )

    monkeypatch.setattr(scipy.optimize, "milp", loose)
    offsets = [-100, -40, 0, 1, 2, 4, 8, 16]  # bytes past the budget; larger is cheaper
    sizes = [[budget - 1_000 + o for o in offsets], [1_000]]
    costs = [[float(len(offsets) - k) for k in range(len(offsets))], [0.0]]
    found = allocate(costs, sizes, budget)
    assert found.total_bytes <= budget and len(calls) > 5
    best = min(
        (costs[0][k], k)
        for k, size in enumerate(sizes[0])
        if size + 1_000 <= found.bound_bytes + slack
    )
    assert found.choice == [best[1], 0] and found.bound_bytes == round(calls[-1])


@pytest.mark.parametrize("bits", [2.75, 3])
def test_allocation_meets_the_budget_and_is_recorded(tiny, bits):
    model, _ = tiny
    budget = Budget(bits=bits, rank=8)
    orig = originals(model, budget)
    prepared = LQLoRA.from_overrides(FAST).prepare(copy.deepcopy(model), budget, None, seed=0)
    metrics, table = init_metrics(prepared, orig, budget=budget)
    info = prepared.info
    # what the harness measures from the packed QTensors is within the budget
    assert metrics["quant/effective_bits"] <= info["budget_bits"] == metrics["quant/budget_bits"]
    assert info["stored_bits"] == pytest.approx(metrics["quant/effective_bits"])
    if bits == 2.75:
        assert info["budget_bits"] == 2.75
    else:  # an integer budget: INT3 with a float16 scale and a 3-bit zero per 64 weights
        assert info["budget_bits"] == 3 + 19 / 64
    assert set(info["allocation"]) == set(orig)
    assert len(set(info["allocation"].values())) > 1  # a real mix, not one uniform setting
    for row in table:  # every matrix is stored as the ILP chose
        bits_, block = info["allocation"][row["layer"]][2:].split("-b")
        meta = prepared.layers()[row["layer"]]._qmeta
        assert (meta["bits"], meta["group_size"]) == (int(bits_), int(block))


def test_initial_correction_does_not_change_with_alpha(tiny):
    model, _ = tiny
    deltas = []
    for alpha in (4.0, 64.0):
        budget = Budget(bits=2.75, rank=8, lora_alpha=alpha)
        prepared = LQLoRA.from_overrides(FAST).prepare(copy.deepcopy(model), budget, None, seed=0)
        deltas.append({n: m.delta() for n, m in prepared.layers().items()})
    for name in deltas[0]:
        torch.testing.assert_close(deltas[0][name], deltas[1][name], rtol=1e-4, atol=1e-6)
        assert deltas[0][name].abs().max() > 0


def test_fisher_is_the_sum_of_squared_per_window_gradients(tiny):
    model, _ = tiny
    targets = dict(list(find_targets(model, ("q_proj", "down_proj")).items())[:2])
    windows = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    flags = [p.requires_grad for p in model.parameters()]
    fisher = empirical_fisher(model, targets, windows)
    assert [p.requires_grad for p in model.parameters()] == flags  # the model is left as it was
    for name, lin in targets.items():
        expected = torch.zeros_like(lin.weight)
        for row in windows:
            lin.weight.requires_grad_(True)
            loss = model(input_ids=row[None], labels=row[None]).loss
            (grad,) = torch.autograd.grad(loss, [lin.weight])
            expected += grad.square()
        torch.testing.assert_close(fisher[name], expected, rtol=1e-4, atol=1e-12)
        lin.weight.requires_grad_(False)


def test_weighted_svd_lowers_the_weighted_error():
    """With uneven row/column importances the weighted variant wins on the weighted error."""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(96, 128, generator=gen)
    rows = torch.logspace(-2, 2, 96)[torch.randperm(96, generator=gen)]
    cols = torch.logspace(-1, 1, 128)[torch.randperm(128, generator=gen)]
    fisher = rows[:, None] * cols[None, :]
    kw = {"max_iterations": 5, "svd": "exact"}
    weighted = lq_decompose(w, 8, 2, 64, importance=fisher, **kw)
    plain = lq_decompose(w, 8, 2, 64, **kw)
    plain_weighted_err = float(
        torch.linalg.norm(fisher.sqrt() * (w - plain.q - plain.left @ plain.right))
    )
    assert weighted.error < plain_weighted_err
    r, c = factor_weights(fisher)
    torch.testing.assert_close(r, rows.sqrt() * cols.mean().sqrt(), rtol=1e-4, atol=0)
    torch.testing.assert_close(c, cols.sqrt() * rows.mean().sqrt(), rtol=1e-4, atol=0)


def test_fisher_variant_runs_on_calibration_data(tiny):
    model, tok = tiny
    spec = SimpleNamespace(
        calib=CalibSpec(n_windows=2, seq_len=32, holdout_windows=1), data="sample"
    )
    calib = build_calibration(model, tok, spec, "cpu")
    method = LQLoRA.from_overrides({**FAST, "fisher": "true"})
    assert method.needs_calibration_for(Budget(bits=2.75))
    budget = Budget(bits=2.75, rank=8)
    prepared = method.prepare(copy.deepcopy(model), budget, calib, seed=0)
    assert prepared.info["calibration"]["split"] == "train"
    assert all(torch.isfinite(m.delta()).all() for m in prepared.layers().values())
    with pytest.raises(SpecError, match="needs calibration data"):
        method.prepare(copy.deepcopy(model), budget, None, seed=0)


def test_budgets_and_settings_are_validated(tiny):
    model, _ = tiny
    assert build_sweep(methods="lqlora", bits="2.75").bits == (2.75,)
    with pytest.raises(SpecError, match="not allowed for qlora"):
        build_sweep(methods="qlora", bits="2.75")
    with pytest.raises(SpecError, match="bits_choices"):
        LQLoRA.from_overrides({"bits_choices": "2,5"})
    with pytest.raises(SpecError, match="allocate=true"):
        LQLoRA.from_overrides({"allocate": "false"}).prepare(model, Budget(bits=2.5), None, 0)
    with pytest.raises(SpecError, match="smallest storage"):
        LQLoRA.from_overrides({**FAST, "block_choices": "32"}).prepare(
            copy.deepcopy(model), Budget(bits=2.2), None, 0
        )


def test_configurations_sharing_a_seed_share_the_first_svd_exactly():
    """From Q = 0 the first SVD is of W alone: handing it over (and the generator as it left
    it) gives every iterate, error and factor of the plain decomposition, to the last bit."""
    from methods.lqlora.decompose import first_factors

    torch.manual_seed(0)
    w = torch.randn(48, 128)
    for dq in (None, DQSpec("uint", 3, 16, "bfloat16"), DQSpec("uint", 8, 64, "float32")):
        plain = lq_decompose(
            w, 8, 2, 64, max_iterations=6, generator=torch.Generator().manual_seed(5), dq=dq
        )
        gen = torch.Generator().manual_seed(5)
        shared = lq_decompose(
            w, 8, 2, 64, max_iterations=6, generator=gen, dq=dq,
            first=first_factors(w, 8, None, "randomized", gen),
        )  # fmt: skip
        assert plain.errors == shared.errors and plain.iterations > 1
        for a, b in ((plain.q, shared.q), (plain.left, shared.left), (plain.right, shared.right)):
            assert torch.equal(a, b)


def test_the_shared_first_svd_leaves_the_allocation_and_the_weights_as_they_were(tiny, monkeypatch):
    from methods.lqlora import search

    model, _ = tiny
    budget = Budget(bits=2, rank=8, target_modules=("q_proj", "down_proj"))
    cfg = {"max_iterations": "3", "ilp_iterations": "2", "bits_choices": "2,3"}
    method = LQLoRA.from_overrides(cfg)
    calls = []
    real_get = search._FirstFactors.get
    monkeypatch.setattr(
        search._FirstFactors, "get", lambda self, g: calls.append(1) or real_get(self, g)
    )
    shared = method.prepare(copy.deepcopy(model), budget, None, seed=0)
    monkeypatch.setattr(search._FirstFactors, "get", lambda self, g: None)
    plain = method.prepare(copy.deepcopy(model), budget, None, seed=0)
    assert calls and shared.info["ilp_objective"] == plain.info["ilp_objective"]
    assert shared.info["allocation"] == plain.info["allocation"]
    for name, layer in shared.layers().items():
        other = plain.layers()[name]
        assert torch.equal(layer.base_weight(), other.base_weight())
        assert torch.equal(layer.lora_A, other.lora_A) and torch.equal(layer.lora_B, other.lora_B)


def test_one_step_errors_read_at_once_are_the_decompositions_errors():
    """first_errors (the ILP table at ilp_iterations=1) gives each configuration's error of
    lq_decompose(max_iterations=1) exactly, Fisher-weighted or not."""
    from methods.lqlora.decompose import first_errors, first_factors

    torch.manual_seed(0)
    w = torch.randn(48, 128)
    importance = torch.rand(48, 128)
    configs = [
        (2, 64, "float16", None),
        (3, 32, "bfloat16", DQSpec("uint", 3, 16, "bfloat16")),
        (4, 16, "float16", DQSpec("uint", 8, 64, "float32")),
    ]
    for imp in (None, importance):
        gen = torch.Generator().manual_seed(5)
        first = first_factors(w, 8, imp, "randomized", gen)
        got = first_errors(w, first, configs, imp)
        want = [
            lq_decompose(w, 8, b, g, s, 1, imp, first=first, generator=gen, dq=dq).error
            for b, g, s, dq in configs
        ]
        assert got == want and len(set(got)) == 3


def test_the_one_step_table_is_the_decompositions_table(tiny, monkeypatch):
    """At ilp_iterations=1 the ILP gets, for every matrix and configuration that can fit, the
    squared error of a one-iteration decomposition from that configuration's seed."""
    from methods.lqlora import search

    model, _ = tiny
    budget = Budget(bits=2, rank=8, target_modules=("q_proj", "down_proj"))
    method = LQLoRA.from_overrides({"max_iterations": "2", "ilp_iterations": "1"})
    got = []
    real = search._Search._one_step_row
    monkeypatch.setattr(search._Search, "_one_step_row", lambda *a: got.append(real(*a)) or got[-1])
    targets = search.find_targets(copy.deepcopy(model), budget.target_modules)
    method.prepare(copy.deepcopy(model), budget, None, seed=3)
    space = search.search_space(method.config, budget)
    want = []
    for i, linear in enumerate(targets.values()):
        w = linear.weight.detach().float()
        row = []
        for c in space:
            if linear.in_features % c.block:
                continue
            gen = search._Search._generator(3, i, c)
            res = lq_decompose(w, 8, c.bits, c.block, c.scale_dtype, 1, generator=gen, dq=c.dq)
            row.append(res.error**2)
        want.append(row)
    assert len(got) == len(want) == 4
    for g, w_ in zip(got, want, strict=True):  # what fits was computed, and exactly so
        kept = [(a, b) for a, b in zip(g, w_, strict=True) if a != float("inf")]
        assert len(kept) >= 100 and all(a == b for a, b in kept)
