"""QLoRA (Dettmers et al., 2023): NF4 base weights, LoRA with A random and B = 0.

Paper choices and ours:
- Quantizer: 4-bit NormalFloat, blockwise absmax with block 64 (paper §3). Below 4 bits the same
  construction gives NF3 / NF2 code books (as LoftQ does); the paper itself only uses NF4.
- Block statistics: double-quantized, as the paper (§3, "Double Quantization") and
  bitsandbytes' ``compress_statistics=True``: the absmax values minus their mean as 8-bit
  dynamic codes in blocks of 256, one float32 scale per block (:data:`suite.quant.dq.BNB_DQ`),
  so NF4 with block 64 stores 4.127 bits per weight. These are NF quantizer settings, shared by
  every method of a run (:mod:`suite.quant.config`): double quantization is qlora's own value of
  ``quant.nf.double_quant`` (``native_quant``; the other methods' NF bases leave it off), and
  ``quant.nf.double_quant=false`` stores the absmax values in the budget's scale dtype instead
  (float16: 4.25 bits), the no-DQ baseline that LoftQ's released code trains
  (``bnb_4bit_use_double_quant=False``). The 8-bit codes are the nearest values of the dynamic
  map, as bitsandbytes' CUDA kernel (where the paper ran) picks them;
  ``quant.nf.dq_rounding=bnb-cpu`` reproduces its CPU kernel, whose lookup table picks the
  neighbouring code for values within 2⁻¹⁶ of a midpoint (a few in a thousand absmax values).
- Adapters: peft's default init, A Kaiming-uniform and B = 0, so the initial model is exactly the
  quantized base.
- ``backend = "bnb"`` swaps the native packed QLinear for bitsandbytes' Linear4bit (NF4 only),
  the community's reference kernel, where bitsandbytes imports; ``quant.nf.double_quant`` sets
  its ``compress_statistics``. Without double quantization bitsandbytes keeps float32 absmax values
  (4.5 bits), which only a float32 budget (``budget.scale_dtype=float32``) allows.
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
    QLinear(in=128, out=128, base=nf4-dq, rank=8, scaling=2)
    >>> layer.effective_bits() == 4 + 8 / 64 + 32 / (64 * 256) + 32 / (128 * 128)  # + the offset
    True
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
    version = "2"  # 2: double-quantized absmax by default, float16 scales
    summary = "NF-k blockwise absmax base (NF4 at 4 bits), A random, B = 0 (Dettmers et al. 2023)"
    Config = QLoRAConfig
    default_quantizer = "nf"
    bits = (2, 3, 4)
    lora_alpha = 16.0
    lora_dropout = 0.1
    lora_source = (
        "QLoRA (Dettmers et al. 2023), App. B: r 64, alpha 16, dropout 0.1 for 7B/13B models "
        "(scripts/finetune_guanaco_7b.sh)"
    )
    native_quant = {"nf": {"double_quant": True}}  # the paper's double quantization (§3)

    def check_budget(self, budget) -> None:
        super().check_budget(budget)
        double_quant = self.resolve_quant(budget).nf.double_quant
        if self.config.backend == "bnb" and not double_quant and budget.scale_dtype != "float32":
            raise SpecError(
                "method.qlora.backend bnb without quant.nf.double_quant stores float32 absmax "
                f"values (4.5 bits at 4), over the budget with {budget.scale_dtype} scales; "
                "allowed: quant.nf.double_quant=true, backend native, or "
                "budget.scale_dtype=float32"
            )

    def prepare(self, model, budget, calib, seed: int):
        import torch

        from methods.layerwise import prepare_standard
        from suite.lora import Prepared, replace_targets, standard_init

        budget = self.resolve_budget(budget)
        quantizer_name = self.quantizer_for(budget)
        double_quant = self.resolve_quant(budget).nf.double_quant
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
                return bnb_layer(linear, a, b, budget, double_quant)

            replace_targets(model, budget, build)
            info = {"backend": "bnb", "double_quant": double_quant}
            return Prepared(model, "packed", "bnb-nf4", info)

        prepared = prepare_standard(self, model, budget, calib, seed)
        prepared.info["backend"] = "native"
        prepared.info["double_quant"] = double_quant and quantizer_name == "nf"
        return prepared
