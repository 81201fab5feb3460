"""ApiQ's calibration training: LWC clipping and LoRA A/B learned to match full-precision outputs.

The pieces both granularities of :class:`methods.apiq.ApiQ` use: :class:`LWCLinear`, the
training-time stand-in for a target linear (LWC fake-quantized base plus LoRA, packed into a
QLinear afterwards), and :func:`fit`, the one optimisation loop, given a unit (one block, or one
layer) and a loss over a slice of calibration windows (:class:`StepData`): AdamW with two
parameter groups (clipping logits; LoRA A and B), windows in order, ``batch_size`` windows per
step, float32. On CUDA (``graphs``) the steps after a few eager ones replay one captured CUDA
graph of the whole step, forward, backward and optimizer (:mod:`methods.apiq.graph_step`): a
step is a thousand small kernels, and launching them one by one from Python is what a step
costs.

The loop guards against ApiQ's known failure at 2 bits (a NaN loss): a non-finite loss or
parameter restores the trainables to their state at the start of the unit (block or layer),
scales both learning rates by ``nan_lr_factor`` and starts the unit again, at most
``nan_retries`` times; then it raises :class:`ApiQDiverged` naming the block (and layer), so no
NaN weight ever reaches the prepared model. The losses and parameters are checked once per
epoch, not per step: a step's check would make the host wait for the GPU at every step, and a
non-finite value stays non-finite through the optimizer's later steps, so a later check
restarts the unit just the same (the rest of that epoch's work is lost, nothing else).

One linear fitted to its full-precision outputs (ApiQ's layer-wise unit; the block-wise unit
passes all of a block's LWCLinears and a loss on the block's output), then packed:

    >>> import torch
    >>> from torch import nn
    >>> from methods.apiq import ApiQConfig
    >>> from methods.apiq.train import LWCLinear, StepData, fit
    >>> _ = torch.manual_seed(0)
    >>> linear = nn.Linear(128, 64)
    >>> gen = torch.Generator().manual_seed(0)
    >>> layer = LWCLinear(linear, bits=2, group_size=64, rank=8, scaling=0.25, generator=gen)
    >>> x = torch.randn(16, 8, 128)  # 16 windows of 8 tokens
    >>> target = linear(x).detach()
    >>> data = StepData((x, target), lambda xs, ts: (layer(xs) - ts).square().mean())
    >>> settings = ApiQConfig(epochs=5, batch_size=4).fit_settings()
    >>> report = fit("layer 0", [layer], data, settings)
    >>> report.steps, report.retries, report.last_loss < report.first_loss
    (20, 0, True)
    >>> packed = layer.to_qlinear(linear.bias, scaling=0.25)
    >>> packed, torch.allclose(packed(x), layer(x))
    (QLinear(in=128, out=64, base=int2, rank=8, scaling=0.25), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from methods.apiq.graph_step import GraphStep
from methods.apiq.lwc import INIT_LOGIT, group_range, lwc_fake_quantize, lwc_quantize
from suite.budget import DEFAULT_SCALE_DTYPE
from suite.lora import standard_init
from suite.quant.qlinear import QLinear


class ApiQDiverged(RuntimeError):
    """The loss or a parameter went non-finite in a block and every retry failed too."""


@dataclass(frozen=True)
class FitSettings:
    epochs: int
    batch_size: int
    max_steps: int  # > 0: stop a unit after this many optimizer steps
    lora_lr: float
    lwc_lr: float
    lora_wd: float
    lwc_wd: float
    nan_retries: int
    nan_lr_factor: float


@dataclass(frozen=True)
class Fault:
    """A test hook: make the loss NaN at ``step`` (0-based) of block ``block`` in its first
    ``attempts`` attempts (``layer``: only in that layer's unit, for the layer-wise variant)."""

    block: int
    step: int
    attempts: int = 1
    layer: str = ""


@dataclass(frozen=True)
class StepData:
    """What a step's loss reads: ``tensors``, each with one row per calibration window, and
    ``loss(*slices)``, the loss over the same rows of each (a step's windows)."""

    tensors: tuple[torch.Tensor, ...]
    loss: Callable[..., torch.Tensor]

    @property
    def items(self) -> int:
        return len(self.tensors[0])

    def slices(self, start: int, stop: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[start:stop] for t in self.tensors)

    def step_loss(self, start: int, stop: int) -> torch.Tensor:
        return self.loss(*self.slices(start, stop))


@dataclass
class FitReport:
    first_loss: float = float("nan")  # mean loss of the first epoch (of the final attempt)
    last_loss: float = float("nan")  # mean loss of the last epoch
    retries: int = 0
    lr_scale: float = 1.0
    steps: int = 0
    failures: list[str] = field(default_factory=list)


class LWCLinear(nn.Module):
    """Training-time stand-in for a target linear: LWC fake-quantized base plus LoRA."""

    def __init__(
        self,
        linear: nn.Linear,
        bits: int,
        group_size: int,
        rank: int,
        scaling: float,
        generator: torch.Generator,
        init_logit: float = INIT_LOGIT,
        scale_dtype: str = DEFAULT_SCALE_DTYPE,
    ) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        self.bits, self.group_size, self.scaling = bits, group_size, scaling
        self.scale_dtype = scale_dtype  # of the stored step sizes; the fake pass rounds through it
        self.register_buffer("weight", w.clone())
        wmin, wmax = group_range(w, group_size)
        self.register_buffer("wmin", wmin)
        self.register_buffer("wmax", wmax)
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.up_logit = nn.Parameter(torch.full_like(wmin, init_logit))
        self.low_logit = nn.Parameter(torch.full_like(wmin, init_logit))
        a, b = standard_init(w.shape[0], w.shape[1], rank, generator)
        self.lora_A = nn.Parameter(a.to(w.device))
        self.lora_B = nn.Parameter(b.to(w.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = lwc_fake_quantize(
            self.weight,
            self.bits,
            self.group_size,
            self.up_logit,
            self.low_logit,
            (self.wmin, self.wmax),
            self.scale_dtype,
        )
        y = F.linear(x, w, self.bias)
        return y + self.scaling * F.linear(F.linear(x, self.lora_A), self.lora_B)

    def lwc_params(self) -> list[nn.Parameter]:
        return [self.up_logit, self.low_logit]

    def lora_params(self) -> list[nn.Parameter]:
        return [self.lora_A, self.lora_B]

    def to_qlinear(self, bias: torch.Tensor | None, scaling: float) -> QLinear:
        """The packed QLinear: INT-k base with the learned clipping, and the learned correction.

        The correction learned here is c·B'A' (c the training scaling); the QLinear gets
        A = A'·√(c/s), B = B'·√(c/s), so that s·B·A = c·B'A' for the run's scaling s.
        """
        qt = lwc_quantize(
            self.weight, self.bits, self.group_size, self.up_logit, self.low_logit, self.scale_dtype
        )
        factor = math.sqrt(self.scaling / scaling)
        a, b = self.lora_A.detach() * factor, self.lora_B.detach() * factor
        return QLinear(qt, a, b, scaling, bias)

    def clip_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.sigmoid(self.up_logit.detach()), torch.sigmoid(self.low_logit.detach())


def fit(
    unit: str,
    layers: list[LWCLinear],
    data: StepData,
    settings: FitSettings,
    poison: Callable[[int, int], bool] | None = None,
    graphs: bool = False,
) -> FitReport:
    """Train ``layers``' logits and LoRA on ``data``'s loss over its windows.

    ``poison(attempt, step)``: the test hook; True makes that step's loss NaN (it runs eagerly).
    ``graphs``: replay the steps as a CUDA graph (CUDA tensors only).
    """
    params = [p for layer in layers for p in (*layer.lwc_params(), *layer.lora_params())]
    start_state = [p.detach().clone() for p in params]
    report = FitReport()
    scale = 1.0
    for attempt in range(settings.nan_retries + 1):
        if attempt:
            with torch.no_grad():
                for p, p0 in zip(params, start_state, strict=True):
                    p.copy_(p0)
            scale *= settings.nan_lr_factor
        failure = _run(layers, data, settings, scale, attempt, poison, report, graphs)
        if failure is None:
            report.retries, report.lr_scale = attempt, scale
            return report
        report.failures.append(failure)
    with torch.no_grad():
        for p, p0 in zip(params, start_state, strict=True):
            p.copy_(p0)
    raise ApiQDiverged(
        f"ApiQ diverged in {unit}: {report.failures[-1]}; {settings.nan_retries} retries with "
        f"learning rates scaled by {settings.nan_lr_factor} did not help; allowed: more "
        "method.apiq.nan_retries, a smaller nan_lr_factor or learning rates, or more bits"
    )


def _run(layers, data, settings, scale, attempt, poison, report, graphs) -> str | None:
    """One attempt; None when it finished with finite values, else what went wrong."""
    n_items, size = data.items, settings.batch_size
    graphed = graphs and poison is None and n_items % size == 0
    optimizer = torch.optim.AdamW(
        [
            {
                "params": [p for layer in layers for p in layer.lwc_params()],
                "lr": settings.lwc_lr * scale,
                "weight_decay": settings.lwc_wd,
            },
            {
                "params": [p for layer in layers for p in layer.lora_params()],
                "lr": settings.lora_lr * scale,
                "weight_decay": settings.lora_wd,
            },
        ],
        capturable=graphed,
    )
    params = [p for group in optimizer.param_groups for p in group["params"]]
    stepper = GraphStep(data, optimizer) if graphed else None
    step = 0
    for epoch in range(settings.epochs):
        losses = []  # on the device: the loop reads them (and checks) once per epoch
        first = step
        for start in range(0, n_items, size):
            if settings.max_steps and step >= settings.max_steps:
                break
            stop = min(start + size, n_items)
            if stepper is not None:
                losses.append(stepper.step(start, stop))
                step += 1
                continue
            loss = data.step_loss(start, stop)
            if poison is not None and poison(attempt, step):
                loss = loss * float("nan")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
            step += 1
        if not losses:
            break
        values = torch.stack(losses).float().tolist()
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        if bad is not None:
            return f"non-finite loss at epoch {epoch}, step {first + bad}"
        if not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            return f"non-finite parameters after epoch {epoch}"
        mean = sum(values) / len(values)
        if epoch == 0:
            report.first_loss = mean
        report.last_loss = mean
    report.steps = step
    return None


def float_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The block's keyword arguments with floating tensors (rotary cos/sin, masks) in float32."""

    def cast(v: Any) -> Any:
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            return v.float()
        if isinstance(v, tuple):
            return tuple(cast(x) for x in v)
        return v

    return {k: cast(v) for k, v in kwargs.items()}


def block_output(module: nn.Module, x: torch.Tensor, kwargs: dict[str, Any]) -> torch.Tensor:
    out = module(x, **kwargs)
    return out[0] if isinstance(out, tuple) else out
