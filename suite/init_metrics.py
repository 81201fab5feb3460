"""Init-quality and storage metrics of a prepared model, measured by the harness.

``weight_err`` of a layer is ‖W − (Q + sBA)‖_F / ‖W‖_F with W the original weight; the model-level
metric is the mean over target layers. Storage counts real bytes: packed codes, scales, zeros
and code books for the base, A and B for the adapters.

    >>> import torch
    >>> from torch import nn
    >>> from suite.lora import Prepared
    >>> from suite.quant.nf import quantize_nf
    >>> from suite.quant.qlinear import QLinear
    >>> _ = torch.manual_seed(0)
    >>> w = torch.randn(64, 128)
    >>> layer = QLinear(quantize_nf(w, 4, 64), torch.zeros(8, 128), torch.zeros(64, 8), 2.0)
    >>> prepared = Prepared(nn.ModuleDict({"q_proj": layer}), "packed", "nf")
    >>> metrics, table = init_metrics(prepared, {"q_proj": w})
    >>> round(metrics["init/weight_err"], 2), metrics["quant/effective_bits"]
    (0.09, 4.5625)
    >>> metrics["lora/adapter_bytes"]  # A and B in float32
    6144.0
"""

from __future__ import annotations

import torch

from suite import contract as C
from suite.lora import Prepared


@torch.no_grad()
def weight_errors(prepared: Prepared, originals: dict[str, torch.Tensor]) -> dict[str, float]:
    out = {}
    for name, layer in prepared.layers().items():
        w = originals[name].to(layer.lora_A.device).float()
        approx = layer.base_weight(torch.float32) + layer.delta()
        out[name] = (torch.linalg.norm(w - approx) / torch.linalg.norm(w)).item()
    return out


def init_metrics(
    prepared: Prepared,
    originals: dict[str, torch.Tensor],
    calib_errors: dict[str, float] | None = None,
) -> tuple[dict[str, float], list[dict]]:
    """Model-level metrics (names from :mod:`suite.contract`) and the per-layer table."""
    layers = prepared.layers()
    werr = weight_errors(prepared, originals)
    base = sum(layer.base_bytes() for layer in layers.values())
    adapters = sum(layer.adapter_bytes() for layer in layers.values())
    numel = sum(layer.in_features * layer.out_features for layer in layers.values())
    metrics = {
        C.INIT_WEIGHT_ERR: sum(werr.values()) / len(werr),
        C.EFFECTIVE_BITS: 8.0 * base / numel,
        C.BASE_BYTES: float(base),
        C.ADAPTER_BYTES: float(adapters),
    }
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
