"""QLoRA (Dettmers et al., 2023): NF4 base weights, LoRA with A random and B = 0.

Paper choices and ours:
- Quantizer: 4-bit NormalFloat, blockwise absmax with block 64 (paper §3). Below 4 bits the same
  construction gives NF3 / NF2 code books (as LoftQ does); the paper itself only uses NF4.
- Block statistics: stored as float32 absmax (bitsandbytes' layout without double quantization);
  the paper's double quantization of the absmax values is not applied, so the recorded
  ``quant/effective_bits`` is 4.5 at 4 bits, not 4.127.
- Adapters: peft's default init, A Kaiming-uniform and B = 0, so the initial model is exactly the
  quantized base.
- ``backend = "bnb"`` swaps the native packed QLinear for bitsandbytes' Linear4bit (NF4 only),
  the community's reference kernel, where bitsandbytes imports.
- ``--quantizer`` swaps the base like for every method: ``int`` (round to nearest) or ``gptq``
  (which needs calibration data, so the harness passes it; qlora with gptq is gptq-lora).

    >>> import torch
    >>> from methods.qlora import QLoRA
    >>> from suite import models
    >>> from suite.spec import Budget
    >>> model, _ = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> prepared = QLoRA().prepare(model, Budget(bits=4, rank=8), calib=None, seed=0)
    >>> layer = prepared.layers()["model.layers.0.self_attn.q_proj"]
    >>> layer
    QLinear(in=128, out=128, base=nf4, rank=8, scaling=2)
    >>> bool((layer.lora_B == 0).all())  # the initial model is the quantized base
    True
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import Method
from suite.spec import SpecError


@dataclass(frozen=True)
class QLoRAConfig:
    backend: str = "native"  # "native" (packed QLinear) or "bnb" (bitsandbytes Linear4bit)

    def __post_init__(self) -> None:
        if self.backend not in ("native", "bnb"):
            raise SpecError(
                f"method.qlora.backend {self.backend!r} is not allowed; allowed: native, bnb"
            )


class QLoRA(Method):
    name = "qlora"
    summary = "NF-k blockwise absmax base (NF4 at 4 bits), A random, B = 0 (Dettmers et al. 2023)"
    Config = QLoRAConfig
    default_quantizer = "nf"
    bits = (2, 3, 4)

    def prepare(self, model, budget, calib, seed: int):
        import torch

        from methods.layerwise import prepare_standard
        from suite.lora import Prepared, replace_targets, standard_init

        quantizer_name = self.quantizer_for(budget)
        if self.config.backend == "bnb":
            if quantizer_name != "nf" or budget.bits != 4:
                raise SpecError(
                    f"method.qlora.backend bnb stores NF4 only, not {quantizer_name} at "
                    f"{budget.bits} bits; allowed: backend native, or quantizer nf at 4 bits"
                )
            gen = torch.Generator().manual_seed(seed)
            from suite.quant.bnb import bnb_layer

            def build(name, linear):
                a, b = standard_init(linear.out_features, linear.in_features, budget.rank, gen)
                return bnb_layer(linear, a, b, budget)

            replace_targets(model, budget, build)
            return Prepared(model, "packed", "bnb-nf4", {"backend": "bnb"})

        prepared = prepare_standard(self, model, budget, calib, seed)
        prepared.info["backend"] = "native"
        return prepared
