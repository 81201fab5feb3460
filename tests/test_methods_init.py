"""At initialization qlora equals its quantized base and lora16 equals the original model."""

import copy

import pytest
import torch

from methods.lora16 import LoRA16
from methods.qlora import QLoRA
from suite.lora import find_targets, set_module
from suite.quant.config import QuantSpec
from suite.quant.qlinear import QLinear
from suite.spec import Budget, SpecError


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def quantized_reference(model, prepared):
    """The base model with each target weight replaced by its dequantized value, no adapter."""
    ref = copy.deepcopy(model)
    for name, layer in prepared.layers().items():
        linear = torch.nn.Linear(layer.in_features, layer.out_features, bias=False)
        linear.weight.data = layer.base_weight()
        set_module(ref, name, linear)
    return ref


@pytest.mark.parametrize("bits", [2, 4])
def test_qlora_starts_as_its_quantized_base(tiny, bits):
    model, _ = tiny
    ids = torch.randint(0, 256, (2, 32))
    prepared = QLoRA().prepare(copy.deepcopy(model), Budget(bits=bits, rank=8), None, seed=0)
    reference = quantized_reference(model, prepared)
    torch.testing.assert_close(logits(prepared.model, ids), logits(reference, ids))
    # and the quantization did change the model
    assert not torch.allclose(logits(prepared.model, ids), logits(model, ids), atol=1e-4)
    assert all(isinstance(m, QLinear) for m in prepared.layers().values())
    assert len(prepared.layers()) == len(find_targets(model, Budget().target_modules))


def test_lora16_starts_as_the_original_model(tiny):
    model, _ = tiny
    ids = torch.randint(0, 256, (2, 32))
    prepared = LoRA16().prepare(copy.deepcopy(model), Budget(bits=16, rank=8), None, seed=0)
    torch.testing.assert_close(logits(prepared.model, ids), logits(model, ids))


def test_builtin_qlora_logits_equal_quantized_base(smollm2):
    model, tok = smollm2
    ids = tok("A short sentence about the weather in spring.", return_tensors="pt").input_ids
    prepared = QLoRA().prepare(copy.deepcopy(model), Budget(bits=4), None, seed=0)
    reference = quantized_reference(model, prepared)
    torch.testing.assert_close(logits(prepared.model, ids), logits(reference, ids))


def test_only_adapters_are_trainable(tiny):
    model, _ = tiny
    prepared = QLoRA().prepare(copy.deepcopy(model), Budget(bits=4, rank=8), None, seed=0)
    names = {n.rsplit(".", 1)[-1] for n, p in prepared.model.named_parameters() if p.requires_grad}
    assert names == {"lora_A", "lora_B"}


@pytest.mark.parametrize("double_quant", [True, False])
def test_bnb_backend_matches_the_native_nf4_layers(tiny, double_quant):
    """Native NF4 equals bitsandbytes' Linear4bit, double-quantized (the CPU kernel's rounding)
    or with float32 absmax values (which only a float32 budget allows)."""
    pytest.importorskip("bitsandbytes")
    model, _ = tiny
    ids = torch.randint(0, 256, (2, 16))
    dq = QuantSpec.from_overrides(
        {"nf": {"double_quant": str(double_quant), "dq_rounding": "bnb-cpu"}}
    )
    budget = Budget(bits=4, rank=8, scale_dtype="float16" if double_quant else "float32")
    native = QLoRA.from_overrides({}, dq).prepare(copy.deepcopy(model), budget, None, seed=0)
    bnb_method = QLoRA.from_overrides({"backend": "bnb"}, dq)
    bnb_method.check_budget(budget)
    bnb = bnb_method.prepare(copy.deepcopy(model), budget, None, seed=0)
    for name, layer in native.layers().items():
        other = bnb.layers()[name]
        assert torch.equal(layer.base_weight(), other.base_weight()), name
        assert layer.accounted_bytes() == other.accounted_bytes()
        numel = layer.in_features * layer.out_features
        groups = numel // 64
        scales = groups + 4 * -(-groups // 256) + 4 if double_quant else 4 * groups
        assert other.accounted_bytes() == numel // 2 + scales
    torch.testing.assert_close(logits(bnb.model, ids), logits(native.model, ids))
    # gradients flow through bitsandbytes' layers to the adapters (and not into its weights)
    out = bnb.model(input_ids=ids, labels=ids)
    out.loss.backward()
    grads = [m.lora_B.grad for m in bnb.layers().values()]  # B = 0, so A's gradient is 0
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_bnb_without_double_quant_is_refused_under_a_float16_budget():
    no_dq = QuantSpec.from_overrides({"nf": {"double_quant": "false"}})
    method = QLoRA.from_overrides({"backend": "bnb"}, no_dq)
    with pytest.raises(SpecError, match="quant.nf.double_quant=true"):
        method.check_budget(Budget(bits=4))
    method.check_budget(Budget(bits=4, scale_dtype="float32"))
