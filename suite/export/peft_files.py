"""LoRA adapters in peft's saved format: ``adapter_config.json`` + ``adapter_model.safetensors``.

peft computes a LoRA layer's output as ``base(x) + lora_B(lora_A(dropout(x))) · lora_alpha / r``;
qbench's QLinear adds ``s · B A x`` with ``s = budget.lora_alpha / budget.rank``. Writing
``r = rank`` and ``lora_alpha = budget.lora_alpha`` makes peft's scaling the same float as
qbench's (the same division); a layer whose rank or scaling differs gets its own entry in
``rank_pattern`` / ``alpha_pattern`` (keyed by its full name), checked to divide back to the
layer's scaling exactly. A and B are stored in float32, as qbench trains them, under peft's
keys ``base_model.model.<layer>.lora_A.weight`` / ``.lora_B.weight``.

    >>> config = adapter_config({"model.layers.0.self_attn.q_proj": (8, 2.0)}, 16.0, 8, 0.05, "b")
    >>> config["r"], config["lora_alpha"], config["target_modules"], config["rank_pattern"]
    (8, 16.0, ['q_proj'], {})
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
PREFIX = "base_model.model."


def adapter_config(
    layers: dict[str, tuple[int, float]],
    lora_alpha: float,
    rank: int,
    dropout: float,
    base_path: str,
) -> dict[str, Any]:
    """peft's LoraConfig fields for layers given as ``name -> (rank, scaling)``."""
    rank_pattern: dict[str, int] = {}
    alpha_pattern: dict[str, float] = {}
    for name, (r, scaling) in layers.items():
        if r != rank:
            rank_pattern[name] = r
        if lora_alpha / r != scaling:
            alpha = scaling * r
            if alpha / r != scaling:
                raise ValueError(f"{name}: no lora_alpha gives scaling {scaling} at rank {r}")
            alpha_pattern[name] = alpha
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_path,
        "r": rank,
        "lora_alpha": lora_alpha,
        "lora_dropout": dropout,
        "target_modules": sorted({n.rsplit(".", 1)[-1] for n in layers}),
        "rank_pattern": rank_pattern,
        "alpha_pattern": alpha_pattern,
        "bias": "none",
        "fan_in_fan_out": False,
        "use_rslora": False,
        "use_dora": False,
        "init_lora_weights": True,
        "modules_to_save": None,
        "inference_mode": True,
    }


def write(
    folder: Path, tensors: dict[str, tuple[torch.Tensor, torch.Tensor]], config: dict
) -> None:
    """Write the config and ``name -> (A, B)`` in peft's layout into ``folder``."""
    from safetensors.torch import save_file

    state = {}
    for name, (a, b) in tensors.items():
        state[f"{PREFIX}{name}.lora_A.weight"] = a.detach().float().cpu().contiguous()
        state[f"{PREFIX}{name}.lora_B.weight"] = b.detach().float().cpu().contiguous()
    save_file(state, str(folder / WEIGHTS), metadata={"format": "pt"})
    (folder / CONFIG).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")


def read(folder: Path) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor, float]], dict]:
    """``name -> (A, B, scaling)`` and the config, from a folder written by :func:`write`."""
    from safetensors.torch import load_file

    config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    state = load_file(str(folder / WEIGHTS))
    out = {}
    for key, a in state.items():
        if not key.endswith(".lora_A.weight"):
            continue
        name = key[len(PREFIX) : -len(".lora_A.weight")]
        b = state[f"{PREFIX}{name}.lora_B.weight"]
        r = config["rank_pattern"].get(name, config["r"])
        alpha = config["alpha_pattern"].get(name, config["lora_alpha"])
        out[name] = (a, b, alpha / r)
    return out, config
