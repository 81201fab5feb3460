"""LoRA on the unquantized base: the full-precision reference row of every table.

The base keeps the model's own weights (bf16 on GPU, float32 on CPU) frozen; A is
Kaiming-uniform and B = 0 (Hu et al., 2021, and peft's default), so the initial model is exactly
the original model. Its bits are recorded as 16 whatever ``--bits`` says.

    >>> import torch
    >>> from methods.lora16 import LoRA16
    >>> from suite import models
    >>> from suite.spec import Budget
    >>> model, _ = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> ids = torch.tensor([[1, 2, 3, 4]])
    >>> before = model(ids).logits
    >>> prepared = LoRA16().prepare(model, Budget(bits=16, rank=8), calib=None, seed=0)
    >>> prepared.storage, torch.allclose(prepared.model(ids).logits, before)
    ('dense', True)
"""

from __future__ import annotations

from methods.base import Method


class LoRA16(Method):
    name = "lora16"
    version = "2"  # 2: native LoRA settings resolved per method
    summary = "unquantized base, A random, B = 0: the full-precision reference row"
    default_quantizer = "none"
    lora_alpha = 16.0
    lora_dropout = 0.1
    lora_source = (
        "the 16-bit LoRA baselines of QLoRA (Dettmers et al. 2023, App. B: alpha 16, dropout "
        "0.1) and LoftQ (scripts/train_gsm8k.sh: --lora_alpha 16; train_gsm8k.py: dropout 0.1)"
    )

    def quantizer_for(self, budget) -> str:
        return "none"  # the base stays unquantized whatever --quantizer says

    def prepare(self, model, budget, calib, seed: int):
        import torch

        from suite.lora import Prepared, replace_targets, standard_init
        from suite.quant.qlinear import QLinear

        budget = self.resolve_budget(budget)
        gen = torch.Generator().manual_seed(seed)

        def build(name, linear):
            a, b = standard_init(linear.out_features, linear.in_features, budget.rank, gen)
            return QLinear(linear.weight.detach(), a, b, budget.scaling, linear.bias)

        replace_targets(model, budget, build)
        return Prepared(model, "dense", "none", {})
