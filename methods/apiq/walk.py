"""ApiQ's walk over the decoder blocks: train clipping and adapters per block, then pack.

:func:`prepare_apiq` is :meth:`methods.apiq.ApiQ.prepare`'s work (see :mod:`methods.apiq` for
the method and its defaults): for each block of the Calibrator's walk it trains the learnable
clipping and LoRA A/B of the block's target layers (jointly, or one layer at a time) to match
the full-precision outputs, then packs each layer's base with the learned clipping.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F

from methods.apiq.train import (
    ApiQDiverged,
    Fault,
    LWCLinear,
    StepData,
    block_output,
    fit,
    float_kwargs,
)
from suite.lora import Prepared, find_targets, set_module
from suite.quant.config import LWCSettings
from suite.quant.qlinear import QLinear
from suite.spec import Budget, SpecError


def prepare_apiq(
    config, fault: Fault | None, model, budget: Budget, calib, seed: int, lwc: LWCSettings
) -> Prepared:
    """Quantize and initialize every target layer of ``model`` with ApiQ under ``budget``;
    ``lwc`` holds the learnable clipping's settings (``quant.lwc.*``)."""
    return _Walk(config, fault, lwc).prepare(model, budget, calib, seed)


class _Walk:
    def __init__(self, config, fault: Fault | None, lwc: LWCSettings) -> None:
        self.config = config
        self.fault = fault
        self.lwc = lwc

    def prepare(self, model, budget: Budget, calib, seed: int) -> Prepared:
        if calib is None:
            raise SpecError(
                "apiq needs calibration data, but none was given; allowed: run through the "
                "harness, which builds it from the calib.* settings"
            )
        cfg = self.config
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
            "lwc": asdict(self.lwc),
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
        cfg = self.config
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

        def loss(x: torch.Tensor, target: torch.Tensor, *fp_on_q: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp, cache_enabled=False):
                out = block_output(module, x.float(), kwargs)
            out = out.float()
            value = F.mse_loss(out, target.float())
            if fp_on_q:
                value = value + F.mse_loss(out, fp_on_q[0].float())
            return value

        tensors = (block.inputs, block.targets) + (() if aug is None else (aug,))
        try:
            report = fit(
                f"block {block.index} ({block.name})",
                list(lwc.values()),
                StepData(tensors, loss),
                cfg.fit_settings(),
                self._poison(block.index, ""),
                graphs=cfg.cuda_graphs and block.inputs.is_cuda,
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
        cfg = self.config
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

            def loss(x_fp_rows, x_q_rows, layer=layer, w=w, bias=bias):
                with torch.no_grad():
                    target = F.linear(x_fp_rows, w, bias)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp, cache_enabled=False):
                    out = layer(x_q_rows)
                return F.mse_loss(out.float(), target)

            reports.append(
                fit(
                    f"block {block.index} ({name})",
                    [layer],
                    StepData((x_fp, x_q), loss),
                    cfg.fit_settings(),
                    self._poison(block.index, name),
                    graphs=cfg.cuda_graphs and x_q.is_cuda,
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
        layer = LWCLinear(
            linear,
            int(budget.bits),
            budget.group_size,
            budget.rank,
            scaling,
            gen,
            self.lwc.init_logit,
            self.lwc.scale_dtype,
        )
        return layer.to(linear.weight.device)

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
