"""Layer by layer preparation shared by the methods: quantizer choice and the block walk.

A method supplies ``build(name, linear, gram) -> QLinear`` for one target layer; ``build_layers``
calls it for every target layer, in model order. With ``use_grams`` it walks the decoder blocks
with the Calibrator, so ``gram`` is H = XᵀX of the layer's inputs along the quantized path (the
blocks before it already processed, GPTQ's sequential order) and the next block sees the
processed block's outputs; without, ``gram`` is None and no data is touched.

    >>> from methods.layerwise import make_quantizer
    >>> from suite.quant.config import QuantSpec
    >>> make_quantizer("gptq", QuantSpec()).damp
    0.01
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from suite.quant import QUANTIZERS, build_quantizer
from suite.quant.config import QuantSpec
from suite.spec import Budget, SpecError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from suite.quant.qlinear import QLinear

Build = Callable[[str, "nn.Linear", "torch.Tensor | None"], "QLinear"]


def make_quantizer(name: str, quant: QuantSpec) -> Any:
    """The quantizer ``name`` with the run's settings ``quant`` (the same for every method;
    resolved by the method first, :meth:`methods.base.Method.resolve_quant`: scales in the
    budget's dtype, NF's double quantization where the method's own or the run's setting)."""
    if name not in QUANTIZERS:
        raise SpecError(f"unknown quantizer '{name}'; allowed: {', '.join(sorted(QUANTIZERS))}")
    return build_quantizer(name, quant)


def check_bits(budget: Budget, quantizer: str) -> int:
    """The integer bit width under ``budget``; SpecError where ``quantizer`` cannot store it."""
    from suite.quant.qtensor import SCHEME_BITS

    scheme = "nf" if quantizer == "nf" else "int"
    if not float(budget.bits).is_integer() or int(budget.bits) not in SCHEME_BITS[scheme]:
        allowed = ", ".join(map(str, SCHEME_BITS[scheme]))
        raise SpecError(
            f"bits {budget.bits} is not allowed with quantizer '{quantizer}'; allowed: {allowed}"
        )
    return int(budget.bits)


def build_layers(
    model: nn.Module, budget: Budget, calib: Any, build: Build, use_grams: bool
) -> dict[str, QLinear]:
    """Replace every target layer by ``build(name, linear, gram)``; see the module docs."""
    from suite.lora import find_targets, replace_targets, set_module

    if not use_grams:
        return replace_targets(
            model, budget, lambda name, linear: build(name, linear, None).to(linear.weight.device)
        )
    if calib is None:
        raise SpecError(
            "this method and quantizer need calibration data, but none was given; allowed: "
            "run through the harness, which builds it from the calib.* settings"
        )
    for p in model.parameters():
        p.requires_grad_(False)
    expected = list(find_targets(model, budget.target_modules))
    out: dict[str, QLinear] = {}
    for block in calib.blocks(model, target_modules=budget.target_modules):
        grams = block.grams()
        for name, linear in block.linears().items():
            layer = build(name, linear, grams[name])
            set_module(model, name, layer.to(linear.weight.device))
            out[name] = layer
        del grams
    missing = [n for n in expected if n not in out]
    if missing:
        raise SpecError(
            f"target layer {missing[0]} lies outside the decoder blocks, where no calibration "
            "inputs are captured; allowed: target_modules inside the blocks (q_proj ... down_proj)"
        )
    return out


def prepare_standard(method: Any, model: nn.Module, budget: Budget, calib: Any, seed: int):
    """Quantize every target layer with the method's quantizer; LoRA's usual A random, B = 0."""
    import torch

    from suite.lora import Prepared, standard_init
    from suite.quant.qlinear import QLinear

    qname = method.quantizer_for(budget)
    bits = check_bits(budget, qname)
    quantizer = method.make_quantizer(budget)
    gen = torch.Generator().manual_seed(seed)

    def build(name, linear, gram):
        qt = quantizer.quantize(linear.weight.detach().float(), bits, budget.group_size, gram=gram)
        a, b = standard_init(linear.out_features, linear.in_features, budget.rank, gen)
        return QLinear(qt, a, b, budget.scaling, linear.bias)

    use_grams = method.needs_calibration_for(budget)
    build_layers(model, budget, calib, build, use_grams)
    info = {"quantizer": qname}
    if use_grams:
        info["calibration"] = calib.record()
    return Prepared(model, "packed", qname, info)
