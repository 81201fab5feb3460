"""GPTQ-LoRA: the quantized base of CLoQ with LoRA's standard initialization (A random, B = 0).

It isolates CLoQ's contribution: the same quantized base as cloq (its quantizer, ``magr-gptq``:
MagR and then GPTQ/OPTQ, asymmetric INT-k, group 64, with the run's ``quant.magr.*`` and
``quant.gptq.*`` settings, and the same calibration windows), but the adapter starts at zero, so
the initial model is exactly the quantized model (as in QLoRA-style fine-tuning of a GPTQ model).
``--quantizer`` swaps the base like for every method: ``gptq`` for plain GPTQ; with ``nf`` it is
QLoRA.

    >>> from methods.gptq_lora import GPTQLoRA
    >>> from suite.spec import Budget
    >>> GPTQLoRA().quantizer_for(Budget()), GPTQLoRA().quantizer_for(Budget(quantizer="gptq"))
    ('magr-gptq', 'gptq')
"""

from __future__ import annotations

from methods.base import Method
from methods.cloq import CLoQ
from suite.spec import Budget


class GPTQLoRA(Method):
    name = "gptq-lora"
    version = "2"  # 2: the magr-gptq base, native lora_alpha = r
    summary = "cloq's base (MagR + GPTQ INT-k), A random, B = 0: isolates CLoQ's initialization"
    default_quantizer = CLoQ.default_quantizer
    lora_dropout = CLoQ.lora_dropout
    lora_source = "CLoQ's (alpha = r, dropout 0.1), so that only the initialization differs"

    @classmethod
    def native_alpha(cls, bits: float, rank: int) -> float:
        return CLoQ.native_alpha(bits, rank)

    def prepare(self, model, budget: Budget, calib, seed: int):
        from methods.layerwise import prepare_standard

        return prepare_standard(self, model, self.resolve_budget(budget), calib, seed)
