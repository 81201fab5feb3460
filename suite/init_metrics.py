"""Init-quality and storage metrics of a prepared model, measured by the harness.

``weight_err`` of a layer is ‖W − (Q + sBA)‖_F / ‖W‖_F with W the original weight; the model-level
metric is the mean over target layers. Storage: ``quant/base_bytes`` counts every stored byte of
the target layers' bases (packed codes, scales, zeros, code books), ``lora/adapter_bytes`` A and
B; ``quant/effective_bits`` is the bases' bits per weight under the one accounting of
:mod:`suite.budget` (code books aside), and ``quant/budget_bits`` what the run's budget allows
under the same accounting. :func:`check_budget` fails a prepared model that stores more.

    >>> import torch
    >>> from torch import nn
    >>> from suite.lora import Prepared
    >>> from suite.quant.nf import quantize_nf
    >>> from suite.quant.qlinear import QLinear
    >>> from suite.spec import Budget
    >>> _ = torch.manual_seed(0)
    >>> w = torch.randn(64, 128)
    >>> qt = quantize_nf(w, 4, 64, scale_dtype="float16")
    >>> layer = QLinear(qt, torch.zeros(8, 128), torch.zeros(64, 8), 2.0)
    >>> prepared = Prepared(nn.ModuleDict({"q_proj": layer}), "packed", "nf")
    >>> metrics, table = init_metrics(prepared, {"q_proj": w}, budget=Budget(bits=4))
    >>> round(metrics["init/weight_err"], 2), metrics["quant/effective_bits"]  # NF4, fp16 absmax
    (0.09, 4.25)
    >>> metrics["quant/budget_bits"]  # INT4 with a float16 scale and a 4-bit zero per 64 weights
    4.3125
    >>> metrics["lora/adapter_bytes"]  # A and B in float32
    6144.0
"""

from __future__ import annotations

import torch

from suite import contract as C
from suite.budget import budget_bytes
from suite.lora import Prepared
from suite.spec import UNQUANTIZED_BITS, Budget, SpecError


@torch.no_grad()
def weight_errors(prepared: Prepared, originals: dict[str, torch.Tensor]) -> dict[str, float]:
    out = {}
    for name, layer in prepared.layers().items():
        w = originals[name].to(layer.lora_A.device).float()
        approx = layer.base_weight(torch.float32) + layer.delta()
        out[name] = (torch.linalg.norm(w - approx) / torch.linalg.norm(w)).item()
    return out


def storage(prepared: Prepared, budget: Budget | None) -> tuple[int, int, int | None]:
    """(accounted bytes, weights, budget bytes or None) of the prepared model's target layers.

    There is no byte budget for an unquantized base, or without a ``budget``.
    """
    layers = prepared.layers().values()
    accounted = sum(layer.accounted_bytes() for layer in layers)
    numel = sum(layer.in_features * layer.out_features for layer in layers)
    if budget is None or prepared.storage != C.STORAGE_PACKED or budget.bits == UNQUANTIZED_BITS:
        return accounted, numel, None
    shapes = [(layer.out_features, layer.in_features) for layer in layers]
    return (
        accounted,
        numel,
        budget_bytes(shapes, budget.bits, budget.group_size, budget.scale_dtype),
    )


def check_budget(prepared: Prepared, budget: Budget, method: str) -> None:
    """SpecError (one line) where the prepared base stores more than ``budget`` allows."""
    accounted, numel, limit = storage(prepared, budget)
    if limit is not None and accounted > limit:
        raise SpecError(
            f"{method} stores {8.0 * accounted / numel:.4f} bits per weight at --bits "
            f"{budget.bits}, above the budget of {8.0 * limit / numel:.4f} "
            f"(group {budget.group_size}, {budget.scale_dtype} scales); allowed: a method "
            "setting that stores less, or a larger budget.scale_dtype / bits"
        )


def init_metrics(
    prepared: Prepared,
    originals: dict[str, torch.Tensor],
    calib_errors: dict[str, float] | None = None,
    budget: Budget | None = None,
) -> tuple[dict[str, float], list[dict]]:
    """Model-level metrics (names from :mod:`suite.contract`) and the per-layer table."""
    layers = prepared.layers()
    werr = weight_errors(prepared, originals)
    base = sum(layer.base_bytes() for layer in layers.values())
    adapters = sum(layer.adapter_bytes() for layer in layers.values())
    accounted, numel, limit = storage(prepared, budget)
    metrics = {
        C.INIT_WEIGHT_ERR: sum(werr.values()) / len(werr),
        C.EFFECTIVE_BITS: 8.0 * accounted / numel,
        C.BASE_BYTES: float(base),
        C.ADAPTER_BYTES: float(adapters),
    }
    if limit is not None:
        metrics[C.BUDGET_BITS] = 8.0 * limit / numel
    if calib_errors:
        metrics[C.INIT_CALIB_ERR] = sum(calib_errors.values()) / len(calib_errors)
    table = [
        {
            "layer": name,
            "weight_err": werr[name],
            "calib_err": (calib_errors or {}).get(name),
            "effective_bits": layer.effective_bits(),
        }
        for name, layer in layers.items()
    ]
    return metrics, table
