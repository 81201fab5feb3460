"""GPTQ-LoRA: the GPTQ base of CLoQ with LoRA's standard initialization (A random, B = 0).

It isolates CLoQ's contribution: same quantized base (GPTQ/OPTQ, asymmetric INT-k, group 64, 1%
damping, no act-order, the same calibration windows), but the adapter starts at zero, so the
initial model is exactly the GPTQ-quantized model (as in QLoRA-style fine-tuning of a GPTQ model).
``--quantizer`` swaps the base like for every method; with ``nf`` it is QLoRA.

    >>> from methods.gptq_lora import GPTQLoRA
    >>> from suite.spec import Budget
    >>> GPTQLoRA().quantizer_for(Budget())
    'gptq'
"""

from __future__ import annotations

from dataclasses import dataclass

from methods.base import Method
from suite.spec import Budget, SpecError


@dataclass(frozen=True)
class GPTQLoRAConfig:
    damp: float = 0.01  # GPTQ's damping, as a fraction of mean(diag H)
    act_order: bool = False
    block_size: int = 128

    def __post_init__(self) -> None:
        if not self.damp >= 0 or self.block_size <= 0:
            raise SpecError(
                f"method.gptq-lora.damp {self.damp} / block_size {self.block_size}: "
                "allowed damp >= 0 and block_size > 0"
            )


class GPTQLoRA(Method):
    name = "gptq-lora"
    summary = "GPTQ INT-k base as cloq, A random, B = 0: isolates CLoQ's initialization"
    Config = GPTQLoRAConfig
    default_quantizer = "gptq"
    lora_dropout = 0.1
    lora_source = "CLoQ's (alpha = r, dropout 0.1), so that only the initialization differs"

    @classmethod
    def native_alpha(cls, bits: float, rank: int) -> float:
        from methods.cloq import CLoQ

        return CLoQ.native_alpha(bits, rank)

    def prepare(self, model, budget: Budget, calib, seed: int):
        from methods.layerwise import prepare_standard

        return prepare_standard(self, model, self.resolve_budget(budget), calib, seed)
