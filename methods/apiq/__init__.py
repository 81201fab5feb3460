"""ApiQ (Liao et al., EMNLP 2024): quantization and LoRA init learned to preserve block outputs.

The base is uniform asymmetric INT-k with group 64 and learnable weight clipping
(:mod:`suite.quant.lwc`); the clipping logits and LoRA A/B are trained jointly on calibration
data so that the quantized block, with its adapters, reproduces the full-precision block's
outputs. The walk over blocks is the Calibrator's (:mod:`suite.calibration`): each block is
trained on its inputs along the quantized path (earlier blocks already quantized, adapters
included) against the full-precision block's outputs, then its base is packed with the learned
clipping (:func:`suite.quant.lwc.lwc_quantize`) and the walk propagates through the packed block.

Defaults (each from the released code's ``apiq/main.py``): 20 epochs; AdamW with LoRA lr 5e-4 and
clipping lr 5e-3, weight decay 0.1 on both; one window per step; clipping logits start at 4;
LoRA rank 64 and alpha 16 (the budget's defaults, recorded in ``Prepared.info``), A Kaiming-
uniform and B = 0 (peft's init) before training. Choices the paper leaves open, and ours:

- ``granularity = "block"`` (the released code: all target layers of a block trained jointly so
  the block's output matches) or ``"layer"`` (the paper's layer-wise ApiQ: one linear at a time,
  in block order, so that X_q (Q + sBA)ᵀ matches X Wᵀ, with X_q the layer's input along the
  quantized path and X its input in the full-precision model; the full-precision inputs of the
  next block are kept from this block's targets, one extra activation buffer).
- Asymmetric min-max grid with separate lower/upper clipping (the code's default; its example
  script adds ``--symmetric``, not used here).
- ``aug_loss`` (the code's option, off by default there): also match the full-precision block
  applied to the quantized-path inputs.
- **s is honoured**: the adapters are trained in the code's parametrization c·B'A' with
  c = ``train_alpha`` / rank (16/64 at the defaults, exactly the code's), and handed over as
  A = A'·√(c/s), B = B'·√(c/s), so s·B·A = c·B'A' for any lora_alpha: the learned correction
  does not depend on the run's lora_alpha (as with every method's initializer).
- Training keeps its parameters and the fake-quantized weights in float32. On a GPU the block's
  forward runs under bf16 autocast (``amp``, on by default), as the released code trains under
  fp16 autocast; on a CPU everything is float32. The walker's activations stay in the model's
  dtype.
- ApiQ's known NaN at 2 bits: detected per step (loss and parameters), the block is restored to
  its start and retried with both learning rates scaled by ``nan_lr_factor`` (0.1), at most
  ``nan_retries`` (2) times; then the run fails with an error naming the block.
- ``epochs``, ``batch_size`` and ``max_steps`` (a cap on optimizer steps per block) are settings
  so that quick runs can shorten the training, e.g. ``--set method.apiq.epochs=2``.

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

import contextlib
import copy
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from methods.apiq.train import (
    ApiQDiverged,
    Fault,
    FitSettings,
    LWCLinear,
    block_output,
    fit,
    float_kwargs,
)
from methods.base import Method
from suite.lora import Prepared, find_targets, set_module
from suite.quant.qlinear import QLinear
from suite.spec import Budget, SpecError

GRANULARITIES = ("block", "layer")
APIQ_BITS = (2, 3, 4, 8)


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
    aug_loss: bool = False
    nan_retries: int = 2
    nan_lr_factor: float = 0.1
    train_alpha: float = 16.0  # LoRA alpha of the training parametrization (see the docs)
    amp: bool = True  # bf16 autocast of the forward on CUDA (the released code: fp16 autocast)

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
    Config = ApiQConfig
    default_quantizer = "int"
    init_uses_data = True

    def __init__(self, config: Any | None = None) -> None:
        super().__init__(config)
        self.fault: Fault | None = None  # test hook: plant a NaN loss (see Fault)

    def check_budget(self, budget: Budget) -> None:
        if budget.quantizer not in (None, "int"):
            raise SpecError(
                f"quantizer '{budget.quantizer}' is not allowed for apiq; allowed: int "
                "(ApiQ learns the clipping of its uniform INT-k grid)"
            )
        if not float(budget.bits).is_integer() or int(budget.bits) not in APIQ_BITS:
            raise SpecError(
                f"bits {budget.bits} is not allowed for apiq; allowed: "
                + ", ".join(map(str, APIQ_BITS))
            )

    def prepare(self, model, budget: Budget, calib, seed: int) -> Prepared:
        self.check_budget(budget)
        if calib is None:
            raise SpecError(
                "apiq needs calibration data, but none was given; allowed: run through the "
                "harness, which builds it from the calib.* settings"
            )
        cfg: ApiQConfig = self.config
        for p in model.parameters():
            p.requires_grad_(False)
        expected = list(find_targets(model, budget.target_modules))
        gen = torch.Generator().manual_seed(seed)
        blocks: dict[str, dict[str, Any]] = {}
        done: list[str] = []
        fp_inputs = None  # layer-wise: the full-precision inputs of the current block
        for block in calib.blocks(model, targets=True, target_modules=budget.target_modules):
            if cfg.granularity == "block":
                blocks[str(block.index)] = self._block(model, block, budget, gen)
            else:
                fp_in = block.inputs if fp_inputs is None else fp_inputs
                blocks[str(block.index)] = self._layers(model, block, fp_in, budget, gen)
                fp_inputs = block.targets.clone()
            done.extend(block.linears())
            block.done()
        missing = [n for n in expected if n not in done]
        if missing:
            raise SpecError(
                f"target layer {missing[0]} lies outside the decoder blocks, where ApiQ has no "
                "block outputs to match; allowed: target_modules inside the blocks"
            )
        info = {
            "config": asdict(cfg),
            "bits": int(budget.bits),
            "group_size": budget.group_size,
            "rank": budget.rank,
            "lora_alpha": budget.lora_alpha,
            "paper_defaults": {
                "epochs": 20,
                "lora_lr": 5e-4,
                "lwc_lr": 5e-3,
                "rank": 64,
                "lora_alpha": 16,
            },
            "blocks": blocks,
            "retries": sum(b["retries"] for b in blocks.values()),
            "calibration": calib.record(),
        }
        return Prepared(model, "packed", "int-lwc", info)

    # -- one block, all its layers jointly (the released code) ---------------------------------
    def _block(self, model, block, budget: Budget, gen) -> dict[str, Any]:
        cfg: ApiQConfig = self.config
        module = block.module
        linears = block.linears()
        dtypes = {n: p.dtype for n, p in module.named_parameters()}
        module.float()
        kwargs = float_kwargs(block.kwargs)
        aug = None
        if cfg.aug_loss:  # the full-precision block on the quantized-path inputs
            with torch.no_grad():
                aug = torch.cat(
                    [
                        block_output(module, block.inputs[s : s + 8].float(), kwargs)
                        for s in range(0, len(block.inputs), 8)
                    ]
                ).to(block.inputs.dtype)
        lwc = {n: self._lwc(lin, budget, gen) for n, lin in linears.items()}
        for name, layer in lwc.items():
            set_module(model, name, layer)

        amp = cfg.amp and block.inputs.is_cuda

        def step_loss(start: int, stop: int) -> torch.Tensor:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                out = block_output(module, block.inputs[start:stop].float(), kwargs)
            out = out.float()
            loss = F.mse_loss(out, block.targets[start:stop].float())
            if aug is not None:
                loss = loss + F.mse_loss(out, aug[start:stop].float())
            return loss

        try:
            report = fit(
                f"block {block.index} ({block.name})",
                list(lwc.values()),
                step_loss,
                len(block.inputs),
                cfg.fit_settings(),
                self._poison(block.index, ""),
            )
        except ApiQDiverged:
            for name, lin in linears.items():
                set_module(model, name, lin)
            raise
        for name, layer in lwc.items():
            set_module(model, name, self._packed(layer, linears[name], block, budget))
        _restore_dtypes(module, dtypes)
        return _record(report)

    # -- one layer at a time (the paper's layer-wise variant) -----------------------------------
    def _layers(self, model, block, fp_inputs, budget: Budget, gen) -> dict[str, Any]:
        cfg: ApiQConfig = self.config
        module = block.module
        dtypes = {n: p.dtype for n, p in module.named_parameters()}
        module.float()
        reference = copy.deepcopy(module)  # the full-precision block
        kwargs = float_kwargs(block.kwargs)
        amp = cfg.amp and block.inputs.is_cuda
        reports = []
        for name, linear in block.linears().items():
            sub = name[len(block.name) + 1 :]
            x_fp = _layer_inputs(reference, sub, fp_inputs, kwargs)
            x_q = _layer_inputs(module, sub, block.inputs, kwargs)
            layer = self._lwc(linear, budget, gen)
            w = linear.weight.detach().float()
            bias = None if linear.bias is None else linear.bias.detach().float()

            def step_loss(start, stop, layer=layer, x_fp=x_fp, x_q=x_q, w=w, bias=bias):
                with torch.no_grad():
                    target = F.linear(x_fp[start:stop], w, bias)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                    out = layer(x_q[start:stop])
                return F.mse_loss(out.float(), target)

            reports.append(
                fit(
                    f"block {block.index} ({name})",
                    [layer],
                    step_loss,
                    len(x_q),
                    cfg.fit_settings(),
                    self._poison(block.index, name),
                )
            )
            set_module(model, name, self._packed(layer, linear, block, budget))
            del x_fp, x_q
        _restore_dtypes(module, dtypes)
        out = _record(reports[-1])
        out["retries"] = sum(r.retries for r in reports)
        out["layers"] = {
            r_name: _record(r) for r_name, r in zip(block.linears(), reports, strict=True)
        }
        return out

    def _lwc(self, linear, budget: Budget, gen) -> LWCLinear:
        scaling = self.config.train_alpha / budget.rank
        return LWCLinear(linear, int(budget.bits), budget.group_size, budget.rank, scaling, gen).to(
            linear.weight.device
        )

    def _packed(self, layer: LWCLinear, linear, block, budget: Budget) -> QLinear:
        q = layer.to_qlinear(linear.bias, budget.scaling)
        values = [q.lora_A, q.lora_B, q.qtensor().scales]
        if not all(bool(torch.isfinite(v).all()) for v in values):  # never let NaN in
            raise ApiQDiverged(f"ApiQ produced non-finite weights in block {block.index}")
        return q.to(linear.weight.device)

    def _poison(self, index: int, layer: str):
        fault = self.fault
        if fault is None or fault.block != index:
            return None
        if layer and fault.layer and not layer.endswith(fault.layer):
            return None
        return lambda attempt, step: attempt < fault.attempts and step == fault.step


class _Stop(Exception):
    pass


@torch.no_grad()
def _layer_inputs(module, sub: str, inputs: torch.Tensor, kwargs) -> torch.Tensor:
    """The inputs of ``module``'s sublayer ``sub`` over all windows (float32), by a hook."""
    target = module.get_submodule(sub)
    seen: list[torch.Tensor] = []

    def hook(mod, args):
        seen.append(args[0].float())
        raise _Stop

    handle = target.register_forward_pre_hook(hook)
    try:
        for start in range(0, len(inputs), 8):
            with contextlib.suppress(_Stop):
                block_output(module, inputs[start : start + 8].float(), kwargs)
    finally:
        handle.remove()
    return torch.cat(seen)


def _restore_dtypes(module, dtypes: dict[str, torch.dtype]) -> None:
    """Cast the block's own (non-adapter) parameters back to their dtypes before training."""
    for name, p in module.named_parameters():
        if name in dtypes and p.dtype != dtypes[name]:
            p.data = p.data.to(dtypes[name])


def _record(report) -> dict[str, Any]:
    return {
        "first_loss": report.first_loss,
        "last_loss": report.last_loss,
        "retries": report.retries,
        "steps": report.steps,
        "lr_scale": report.lr_scale,
        "failures": list(report.failures),
    }
