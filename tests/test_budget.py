"""One storage accounting (suite/budget.py): the budget against bytes counted by hand, and every
method within its budget at 2, 3 and 4 bits on the synthetic model."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch

from suite.budget import budget_bits, budget_bytes, layer_budget_bytes
from suite.calibration import build_calibration
from suite.init_metrics import check_budget, init_metrics
from suite.lora import find_targets
from suite.quant.config import QuantSpec
from suite.quant.uniform import quantize_int
from suite.registry import methods
from suite.spec import Budget, CalibSpec, SpecError

pytestmark = pytest.mark.usefixtures("one_thread")

# each method's quickest settings; the accounting does not depend on them
FAST = {
    "loftq": {},
    "qlora": {},
    "cloq": {},
    "gptq-lora": {},
    "apiq": {"epochs": "1", "max_steps": "1"},
    "lqlora": {"grid": "plain", "max_iterations": "1", "block_choices": "32,64,128"},
}
TARGETS = ("q_proj", "v_proj", "down_proj")


def test_budget_against_hand_counted_bytes() -> None:
    # SmolLM2's down_proj (576 x 1536) at 3 bits, group 64: 884736 weights in 331776 bytes of
    # codes, 13824 groups with a float16 scale (27648 bytes) and a 3-bit zero (5184 bytes)
    assert layer_budget_bytes(576, 1536, 3, 64) == 331776 + 27648 + 5184
    # packing rounds up to whole bytes: 64 3-bit codes in 24 bytes, one 3-bit zero in 1 byte
    assert layer_budget_bytes(1, 64, 3, 64) == 24 + 2 + 1
    assert layer_budget_bytes(128, 128, 2, 64, "float32") == 4096 + 256 * 4 + 64
    for bits in (2, 3, 4, 8):
        for group in (32, 64, 128):
            exact = 8 * layer_budget_bytes(256, 1024, bits, group) / (256 * 1024)
            assert exact == budget_bits(bits, group) == bits + (16 + bits) / group
    assert budget_bits(2, 64) == 2.28125 and budget_bits(4, 64) == 4.3125
    assert budget_bits(4, 64, "float32") == 4 + 36 / 64
    assert budget_bytes([(8, 64), (16, 64)], 2.5, 64) == 24 * 64 * 2.5 / 8  # fractional: itself
    # a plain INT-b base with float16 scales stores exactly the budget
    w = torch.randn(96, 256)
    for bits in (2, 3, 4):
        qt = quantize_int(w, bits, 64, scale_dtype="float16")
        assert qt.accounted_nbytes() == layer_budget_bytes(96, 256, bits, 64)


@pytest.fixture
def calibration(tiny):
    model, tok = tiny
    spec = SimpleNamespace(calib=CalibSpec(2, 32, holdout_windows=1), data="sample")
    return build_calibration(model, tok, spec, "cpu")


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("name", list(FAST))
def test_every_method_stores_at_most_its_budget(tiny, request, name, bits) -> None:
    model, _ = tiny
    method = methods()[name].from_overrides(FAST[name])
    budget = Budget(bits=bits, rank=4, target_modules=TARGETS)
    originals = {n: m.weight.detach().clone() for n, m in find_targets(model, TARGETS).items()}
    needs = method.needs_calibration_for(budget)
    calib = request.getfixturevalue("calibration") if needs else None
    prepared = method.prepare(copy.deepcopy(model), budget, calib, seed=0)
    metrics, _ = init_metrics(prepared, originals, budget=budget)
    shapes = [tuple(w.shape) for w in originals.values()]
    limit = sum(layer_budget_bytes(o, i, bits, 64) for o, i in shapes)
    used = sum(layer.accounted_bytes() for layer in prepared.layers().values())
    assert used <= limit
    assert metrics["quant/budget_bits"] == 8 * limit / sum(o * i for o, i in shapes)
    assert metrics["quant/effective_bits"] == 8 * used / sum(o * i for o, i in shapes)
    check_budget(prepared, budget, name)  # does not raise
    scales = [
        layer.qtensor().scales for layer in prepared.layers().values() if layer.qtensor().dq is None
    ]
    assert all(s.dtype == torch.float16 for s in scales)  # the budget's one scale dtype


def test_a_base_over_its_budget_is_refused(tiny) -> None:
    model, _ = tiny
    no_dq = QuantSpec.from_overrides({"nf": {"double_quant": "false"}})
    qlora = methods()["qlora"].from_overrides({}, no_dq)
    wide = Budget(bits=4, rank=4, target_modules=TARGETS, scale_dtype="float32")
    prepared = qlora.prepare(copy.deepcopy(model), wide, None, seed=0)  # float32 absmax: 4.5
    check_budget(prepared, wide, "qlora")
    with pytest.raises(SpecError, match=r"qlora stores 4\.5000 bits .* budget of 4\.3125"):
        check_budget(prepared, Budget(bits=4, rank=4, target_modules=TARGETS), "qlora")
