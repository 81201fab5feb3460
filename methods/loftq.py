"""LoftQ (Li et al., 2024): NF-k base and a LoRA init that absorbs the quantization error.

Alternating steps, T = ``iters`` times, from L₀ = 0:

    Q_t = q(W − L_{t−1}),      L_t = SVD_r(W − Q_t),

and the layer starts at Q_T + L_T, with L_T = s·B·A: B and A are the balanced SVD factors of
L_T / s (√σ on each side, like peft's ``_low_rank_decomposition``). The scaling s = alpha / r is
honoured: peft's LoftQ sets B·A = L_T and so adds s·L_T in the forward pass, which compensates
the quantization error only when s = 1; here s·B·A = L_T for any ``lora_alpha``.

Parity option ``peft_init=true``: LoftQ's released code exactly (``quantize_save.py`` through
peft's ``loftq_init``): B·A = L_T whatever s, from a float32 SVD (B = U√Σ, A = √ΣVᵀ computed as
peft does), and the alternating steps subtract L_{t−1} = B·A; the forward pass then adds s·L_T,
which compensates the quantization error only at s = 1 (alpha = r: LoftQ's own setting below 4
bits; at 4 bits its alpha 16 with r 64 gives s = 1/4).

LoRA settings (native, from ``quantize_save.py``): lora_alpha 16 at 4 bits and alpha = r at 2
and 3 bits; dropout 0.1.

Choices: ``iters`` = 1 by default (peft's default ``loftq_iter``; the paper also reports T = 5,
``method.loftq.iters=5``). Quantizer: NF-k blockwise absmax with block 64 (NF4 equals bitsandbytes'
NF4; NF3/NF2 are the same construction, as in the paper's code); the SVD runs in float64, the
factors are stored in float32. ``--quantizer`` swaps the base: ``int`` (round to nearest), or
``gptq`` (then every Q_t is GPTQ of W − L_{t−1} with the layer's calibration Gram matrix, so the
method needs calibration data). The quantizer's settings are the run's ``quant.<name>.*``.

    >>> import torch
    >>> from functools import partial
    >>> from methods.loftq import loftq_init
    >>> from suite.quant.nf import quantize_nf
    >>> from suite.quant.qtensor import dequantize
    >>> _ = torch.manual_seed(0)
    >>> w = torch.randn(64, 128)
    >>> nf2 = partial(quantize_nf, bits=2, group_size=64)
    >>> qt, a, b = loftq_init(w, nf2, 8, 2.0, iters=2)
    >>> (a.shape, b.shape)
    (torch.Size([8, 128]), torch.Size([64, 8]))
    >>> def weight_err(m):
    ...     return round(((w - m).norm() / w.norm()).item(), 2)
    >>> weight_err(dequantize(nf2(w))), weight_err(dequantize(qt) + 2.0 * b @ a)  # NF2 vs LoftQ
    (0.57, 0.44)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from methods.base import Method
from suite.spec import Budget, SpecError

if TYPE_CHECKING:
    import torch

    from suite.quant.qtensor import QTensor


def loftq_init(
    w: torch.Tensor,
    quantize: Callable[[torch.Tensor], QTensor],
    rank: int,
    scaling: float,
    iters: int = 1,
) -> tuple[QTensor, torch.Tensor, torch.Tensor]:
    """(Q_T, A, B) of LoftQ's alternating steps, with s·B@A = SVD_r(W − Q_T)."""
    from suite.lora import split_correction
    from suite.quant.qtensor import dequantize

    if iters < 1:
        raise ValueError(f"iters={iters} is not allowed; allowed: an integer >= 1")
    target = w.detach().float()
    source = target
    for _ in range(iters):
        qt = quantize(source)
        a, b = split_correction(target - dequantize(qt), rank, scaling)
        source = target - scaling * (b @ a)
    return qt, a, b


def loftq_init_peft(
    w: torch.Tensor, quantize: Callable[[torch.Tensor], QTensor], rank: int, iters: int = 1
) -> tuple[QTensor, torch.Tensor, torch.Tensor]:
    """(Q_T, A, B) by peft's ``loftq_init`` arithmetic: B·A = SVD_r(W − Q_T), float32, no s."""
    import torch

    from suite.quant.qtensor import dequantize

    if iters < 1:
        raise ValueError(f"iters={iters} is not allowed; allowed: an integer >= 1")
    weight = w.detach().float()
    residual = weight.clone()
    for step in range(iters):
        qt = quantize(residual)
        residual = weight - dequantize(qt)
        u, sv, vh = torch.linalg.svd(residual, full_matrices=False)
        root = torch.sqrt(torch.diag(sv))
        left, right = u @ root[:, :rank], root[:rank, :] @ vh  # B, A as peft forms them
        if step + 1 == iters:
            break
        residual = weight - torch.mm(left, right)
    return qt, right, left


@dataclass(frozen=True)
class LoftQConfig:
    iters: int = 1  # alternating steps T
    peft_init: bool = False  # parity: LoftQ's released init, B·A = SVD_r(W − Q) ignoring s

    def __post_init__(self) -> None:
        if not isinstance(self.iters, int) or self.iters < 1:
            raise SpecError(f"method.loftq.iters {self.iters} is not allowed; allowed: >= 1")


class LoftQ(Method):
    name = "loftq"
    version = "2"  # 2: native lora_alpha (r at 2/3 bits), float16 absmax, peft_init option
    summary = (
        "NF-k base (block 64), T alternating steps Q = q(W - sBA), sBA = SVD_r(W - Q) "
        "(Li et al. 2024)"
    )
    Config = LoftQConfig
    default_quantizer = "nf"
    bits = (2, 3, 4)
    lora_dropout = 0.1
    lora_source = (
        "LoftQ's quantize_save.py: lora_alpha 16 at 4 bits, alpha = r at 2 and 3 bits, "
        "lora_dropout 0.1"
    )

    @classmethod
    def native_alpha(cls, bits: float, rank: int) -> float:
        return 16.0 if bits == 4 else float(rank)

    def prepare(self, model, budget: Budget, calib, seed: int):
        from methods.layerwise import build_layers, check_bits
        from suite.lora import Prepared
        from suite.quant.qlinear import QLinear

        budget = self.resolve_budget(budget)
        qname = self.quantizer_for(budget)
        bits = check_bits(budget, qname)
        quantizer = self.make_quantizer(budget)
        iters = self.config.iters

        def build(name, linear, gram):
            def quantize(m: torch.Tensor) -> QTensor:
                return quantizer.quantize(m, bits, budget.group_size, gram=gram)

            w = linear.weight.detach().float()
            if self.config.peft_init:
                qt, a, b = loftq_init_peft(w, quantize, budget.rank, iters)
            else:
                qt, a, b = loftq_init(w, quantize, budget.rank, budget.scaling, iters)
            return QLinear(qt, a, b, budget.scaling, linear.bias)

        use_grams = self.needs_calibration_for(budget)
        build_layers(model, budget, calib, build, use_grams)
        info = {"quantizer": qname, "iters": iters, "peft_init": self.config.peft_init}
        if use_grams:
            info["calibration"] = calib.record()
        return Prepared(model, "packed", qname, info)
