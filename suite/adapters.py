"""A model's LoRA adapters as plain tensors: what a run saves after training and loads back.

``adapter_state`` takes every QLinear's A and B (float32, by layer name) and the scaling each
layer applies; ``load_adapter_state`` puts them back into a model with the same target layers,
checking names, shapes and scalings, so a trained model is its prepared model plus this state.
The runner stores the state as the run artifact :data:`suite.contract.ADAPTERS_ARTIFACT`
(safetensors: tensors ``<layer>.lora_A`` / ``<layer>.lora_B``, the scalings in its metadata).

    >>> import torch
    >>> from torch import nn
    >>> from suite.quant.nf import quantize_nf
    >>> from suite.quant.qlinear import QLinear
    >>> def model(b):
    ...     torch.manual_seed(0)
    ...     w = quantize_nf(torch.randn(32, 64), 4, 64)
    ...     return nn.ModuleDict({"q_proj": QLinear(w, torch.randn(4, 64), b, scaling=2.0)})
    >>> trained = model(torch.randn(32, 4))
    >>> tensors, meta = adapter_state(trained)
    >>> sorted(tensors), meta["scaling"]
    (['q_proj.lora_A', 'q_proj.lora_B'], '{"q_proj": 2.0}')
    >>> fresh = model(torch.zeros(32, 4))
    >>> load_adapter_state(fresh, tensors, meta)
    >>> torch.equal(fresh["q_proj"].lora_B, trained["q_proj"].lora_B)
    True
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from suite.quant.qlinear import QLinear

FORMAT = "qbench-adapters"
VERSION = "1"


def _layers(model: nn.Module) -> dict[str, QLinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, QLinear)}


def adapter_state(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata): every QLinear's A and B in float32 on the CPU, and the scalings."""
    tensors: dict[str, torch.Tensor] = {}
    scaling: dict[str, float] = {}
    for name, layer in _layers(model).items():
        tensors[f"{name}.lora_A"] = layer.lora_A.detach().float().cpu().contiguous()
        tensors[f"{name}.lora_B"] = layer.lora_B.detach().float().cpu().contiguous()
        scaling[name] = layer.scaling
    meta = {"format": FORMAT, "version": VERSION, "scaling": json.dumps(scaling)}
    return tensors, meta


def load_adapter_state(
    model: nn.Module, tensors: dict[str, torch.Tensor], meta: dict[str, str]
) -> None:
    """Copy A and B into the model's QLinear layers; ValueError on any mismatch."""
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(
            f"not a {FORMAT} v{VERSION} file: format={meta.get('format')!r} "
            f"version={meta.get('version')!r}"
        )
    scaling = json.loads(meta["scaling"])
    layers = _layers(model)
    if set(scaling) != set(layers):
        missing = sorted(set(layers) - set(scaling)) or sorted(set(scaling) - set(layers))
        raise ValueError(f"the adapters do not match the model's target layers (e.g. {missing[0]})")
    for name, layer in layers.items():
        if scaling[name] != layer.scaling:
            raise ValueError(f"{name}: the adapters' scaling {scaling[name]} != {layer.scaling}")
        for part in ("lora_A", "lora_B"):
            param = getattr(layer, part)
            value = tensors[f"{name}.{part}"]
            if value.shape != param.shape:
                raise ValueError(
                    f"{name}.{part}: shape {tuple(value.shape)} != {tuple(param.shape)}"
                )
            with torch.no_grad():
                param.copy_(value.to(param.device, param.dtype))


def save_file(model: nn.Module, path: Path) -> None:
    """Write ``adapter_state(model)`` to a safetensors file."""
    from safetensors.torch import save_file as write

    tensors, meta = adapter_state(model)
    write(tensors, str(path), metadata=meta)


def read_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a file written by :func:`save_file`."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iter)
    return tensors, meta
