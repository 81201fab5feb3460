"""ApiQ (Liao et al., EMNLP 2024): quantization and LoRA init learned to preserve block outputs.

The base is uniform asymmetric INT-k with group 64 and learnable weight clipping
(:mod:`methods.apiq.lwc`); the clipping logits and LoRA A/B are trained jointly on calibration
data so that the quantized block, with its adapters, reproduces the full-precision block's
outputs. The walk over blocks is the Calibrator's (:mod:`suite.calibration`): each block is
trained on its inputs along the quantized path (earlier blocks already quantized, adapters
included) against the full-precision block's outputs, then its base is packed with the learned
clipping (:func:`methods.apiq.lwc.lwc_quantize`) and the walk propagates through the packed block.

Defaults (each from the released code's ``apiq/main.py`` and ``scripts/quantize.sh``): 20 epochs;
AdamW with LoRA lr 5e-4 and clipping lr 5e-3, weight decay 0.1 on both; one window per step;
clipping logits start at 4 (``quant.lwc.init_logit``, the learnable clipping's setting, shared
like every quantizer's; its steps are stored in ``quant.lwc.scale_dtype``, unset: the budget's);
the augmented loss on (``--aug_loss``, as the script and README run it); LoRA alpha 16 and
dropout 0 (``--peft_args``' default, the adapter its fine-tuning scripts load; the method's
native LoRA settings, recorded with the run), A Kaiming-uniform and B = 0 (peft's init) before
training. Choices the paper leaves open, and ours:

- ``granularity = "block"`` (the released code: all target layers of a block trained jointly so
  the block's output matches) or ``"layer"`` (the paper's layer-wise ApiQ: one linear at a time,
  in block order, so that X_q (Q + sBA)ᵀ matches X Wᵀ, with X_q the layer's input along the
  quantized path and X its input in the full-precision model; the full-precision inputs of the
  next block are kept from this block's targets, one extra activation buffer).
- Asymmetric min-max grid with separate lower/upper clipping (the code's default; its example
  script adds ``--symmetric``, not used here).
- ``aug_loss`` (on, as ``scripts/quantize.sh`` and the README pass ``--aug_loss``; the code's
  own flag defaults to off): the loss adds the MSE to the full-precision block applied to the
  quantized-path inputs (computed once per block before training, as the released
  ``calibrate.py`` computes ``fp_inps_2`` with quantization off and B = 0) to the MSE to the
  full-precision block's outputs on its own path; ``aug_loss=false`` keeps only the latter.
- **s is honoured**: the adapters are trained in the code's parametrization c·B'A' with
  c = ``train_alpha`` / rank (16/64 at the defaults, exactly the code's), and handed over as
  A = A'·√(c/s), B = B'·√(c/s), so s·B·A = c·B'A' for any lora_alpha: the learned correction
  does not depend on the run's lora_alpha (as with every method's initializer).
- Training keeps its parameters and the fake-quantized weights in float32. On a GPU the block's
  forward runs under bf16 autocast (``amp``, on by default), as the released code trains under
  fp16 autocast; on a CPU everything is float32. The walker's activations stay in the model's
  dtype. Gradients stay in float32 too, through the step's rounding to its stored float16
  (:mod:`methods.apiq.lwc`); the released code scales its fp16 loss (a grad scaler) and skips
  a step whose gradients overflow. Here none overflows, so none is skipped (on Gemma 3 at
  2 bits a float16 gradient did overflow, and the 14th block diverged on every retry).
- ApiQ's known NaN at 2 bits: detected once per epoch (every step's loss, then the parameters;
  a non-finite value stays so through later steps), the block is restored to its start and
  retried with both learning rates scaled by ``nan_lr_factor`` (0.1), at most
  ``nan_retries`` (2) times; then the run fails with an error naming the block.
- ``cuda_graphs`` (on): on a GPU the training steps, after three eager ones, replay one
  captured CUDA graph of the whole step (:mod:`methods.apiq.graph_step`), with AdamW's
  device-side (``capturable``) step for every step; off, every step runs eagerly.
- ``epochs``, ``batch_size`` and ``max_steps`` (a cap on optimizer steps per block) are settings
  so that quick runs can shorten the training, e.g. ``--set method.apiq.epochs=2``; the quick
  profile does so (its runs record it).

    >>> import types
    >>> import torch
    >>> from methods.apiq import ApiQ
    >>> from suite import models
    >>> from suite.calibration import build_calibration
    >>> from suite.spec import Budget, CalibSpec
    >>> method = ApiQ.from_overrides({"epochs": "2"})
    >>> method.config.epochs
    2
    >>> model, tok = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> spec = types.SimpleNamespace(calib=CalibSpec(4, 32, holdout_windows=2), data="sample")
    >>> calib = build_calibration(model, tok, spec, "cpu", ids=torch.arange(1024) % 256)
    >>> prepared = method.prepare(model, Budget(bits=2, rank=8), calib, seed=0)
    >>> fits = prepared.info["blocks"]  # per block: steps, first and last epoch's loss
    >>> [(f["steps"], f["last_loss"] < f["first_loss"]) for f in fits.values()]
    [(8, True), (8, True)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from methods.base import Method
from suite.quant.config import QuantSpec
from suite.spec import Budget, SpecError

if TYPE_CHECKING:
    from methods.apiq.train import Fault, FitSettings

GRANULARITIES = ("block", "layer")


@dataclass(frozen=True)
class ApiQConfig:
    epochs: int = 20
    batch_size: int = 1  # windows per step
    max_steps: int = 0  # > 0: at most this many optimizer steps per block (quick runs)
    lora_lr: float = 5e-4
    lwc_lr: float = 5e-3
    lora_wd: float = 0.1
    lwc_wd: float = 0.1
    granularity: str = "block"
    aug_loss: bool = True  # scripts/quantize.sh and the README pass --aug_loss
    nan_retries: int = 2
    nan_lr_factor: float = 0.1
    train_alpha: float = 16.0  # LoRA alpha of the training parametrization (see the docs)
    amp: bool = True  # bf16 autocast of the forward on CUDA (the released code: fp16 autocast)
    cuda_graphs: bool = True  # on CUDA, steps replayed as one CUDA graph (speed only)

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs", ">= 1"),
            (self.batch_size >= 1, "batch_size", ">= 1"),
            (self.max_steps >= 0, "max_steps", ">= 0 (0: epochs x windows / batch_size)"),
            (self.lora_lr > 0, "lora_lr", "> 0"),
            (self.lwc_lr > 0, "lwc_lr", "> 0"),
            (self.lora_wd >= 0, "lora_wd", ">= 0"),
            (self.lwc_wd >= 0, "lwc_wd", ">= 0"),
            (self.granularity in GRANULARITIES, "granularity", ", ".join(GRANULARITIES)),
            (self.nan_retries >= 0, "nan_retries", ">= 0"),
            (0 < self.nan_lr_factor < 1, "nan_lr_factor", "in (0, 1)"),
            (self.train_alpha > 0, "train_alpha", "> 0"),
        ]
        for ok, name, allowed in checks:
            if not ok:
                raise SpecError(
                    f"method.apiq.{name} {getattr(self, name)!r} is not allowed; allowed: {allowed}"
                )

    def fit_settings(self) -> FitSettings:
        from methods.apiq.train import FitSettings

        return FitSettings(
            self.epochs,
            self.batch_size,
            self.max_steps,
            self.lora_lr,
            self.lwc_lr,
            self.lora_wd,
            self.lwc_wd,
            self.nan_retries,
            self.nan_lr_factor,
        )


class ApiQ(Method):
    name = "apiq"
    version = "4"  # 2: aug_loss on, float16 clipping steps; 3: CUDA-graph steps (device-side
    # AdamW); 4: the float16 step rounding passes float32 gradients (a float16 one overflowed)
    summary = (
        "INT-k base (group 64) with learnable clipping; clipping and LoRA A/B trained to match "
        "the full-precision block outputs on calibration data (Liao et al. 2024)"
    )
    Config = ApiQConfig
    default_quantizer = "int"
    init_uses_data = True
    lora_alpha = 16.0
    lora_dropout = 0.0
    lora_source = (
        "ApiQ's apiq/main.py --peft_args default {lora_alpha: 16, r: 64, lora_dropout: 0}: the "
        "apiq_init adapter its fine-tuning scripts load"
    )

    def __init__(self, config: Any | None = None, quant: QuantSpec | None = None) -> None:
        super().__init__(config, quant)
        self.fault: Fault | None = None  # test hook: plant a NaN loss (see Fault)

    def quant_sections(self, budget: Budget) -> tuple[str, ...]:
        return ("lwc",)

    def check_budget(self, budget: Budget) -> None:
        if budget.quantizer not in (None, "int"):
            raise SpecError(
                f"quantizer '{budget.quantizer}' is not allowed for apiq; allowed: int "
                "(ApiQ learns the clipping of its uniform INT-k grid)"
            )
        if not float(budget.bits).is_integer() or int(budget.bits) not in self.bits:
            raise SpecError(
                f"bits {budget.bits} is not allowed for apiq; allowed: "
                + ", ".join(map(str, self.bits))
            )

    def prepare(self, model, budget: Budget, calib, seed: int):
        from methods.apiq.walk import prepare_apiq

        budget = self.resolve_budget(budget)
        self.check_budget(budget)
        lwc = self.resolve_quant(budget).lwc
        return prepare_apiq(self.config, self.fault, model, budget, calib, seed, lwc)
