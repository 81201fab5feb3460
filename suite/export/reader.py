"""Read an exported folder back into a qbench model (QLinear target layers), for qbench's own use.

``qbench export-model`` writes checkpoints for other libraries; this reads the same files with
qbench's code, so ``qbench-lm-eval --model qbench --model_args path=DIR`` evaluates an exported
model through qbench's fast paths, and the exporter checks what it wrote (the logits of the
model read back against the model it exported). A ``peft`` folder is rebuilt layer by layer:
the base's format comes from its ``config.json`` (``quantization_config``: bitsandbytes NF4,
GPTQ, or none for a dense base) and each target layer's QTensor is read back from that
format's tensors (:mod:`suite.export.formats`); a ``merged`` folder is a plain checkpoint.

    model, tokenizer = load_export(Path("exported"), device="cpu")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from suite.export import peft_files
from suite.export.formats import FORMATS
from suite.spec import SpecError

MANIFEST = "qbench-export.json"
BASE_DIR = "base"


def format_of(quantization_config: dict[str, Any] | None) -> Any:
    """The format of :data:`suite.export.formats.FORMATS` that reads a ``quantization_config``."""
    for fmt in FORMATS:
        if fmt.reads(quantization_config):
            return fmt
    method = (quantization_config or {}).get("quant_method")
    raise SpecError(
        f"quantization method {method!r} is not one qbench exports; allowed: "
        + ", ".join(f.name for f in FORMATS)
    )


def _under(key: str, names: set[str]) -> bool:
    parts = key.split(".")
    return any(".".join(parts[:i]) in names for i in range(1, len(parts)))


def load_export(folder: Path, device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) of an exported folder, float32, on ``device``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (folder / MANIFEST).is_file():
        raise SpecError(
            f"{folder} is not a folder written by qbench export-model (no {MANIFEST}); "
            "allowed: a folder that qbench export-model wrote"
        )
    if not (folder / peft_files.CONFIG).is_file():  # merged: a plain checkpoint
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        return model.to(device).eval(), AutoTokenizer.from_pretrained(folder)
    return _load_peft(folder, device), AutoTokenizer.from_pretrained(folder / BASE_DIR)


def _load_peft(folder: Path, device: str) -> Any:
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    from suite.lora import set_module
    from suite.quant.qlinear import QLinear

    base = folder / BASE_DIR
    config = AutoConfig.from_pretrained(base)
    qcfg = getattr(config, "quantization_config", None)
    if qcfg is not None:
        qcfg = qcfg if isinstance(qcfg, dict) else qcfg.to_dict()
        del config.quantization_config
    fmt = format_of(qcfg)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = load_file(str(base / "model.safetensors"))
    adapters, _ = peft_files.read(folder)
    targets = set(adapters)
    plain = {k: v for k, v in state.items() if not _under(k, targets)}
    missing, unexpected = model.load_state_dict(plain, strict=False)
    tied = getattr(config, "tie_word_embeddings", False)
    left = [k for k in missing if not _under(k, targets) and not (tied and "lm_head" in k)]
    if left or unexpected:
        raise SpecError(
            f"{base}: the checkpoint does not fit its config (e.g. {(left or unexpected)[0]})"
        )
    if tied:
        model.tie_weights()
    for name, (a, b, scaling) in adapters.items():
        linear = model.get_submodule(name)
        part = {k[len(name) + 1 :]: v for k, v in state.items() if k.startswith(name + ".")}
        bias = part.pop("bias", None)
        shape = (linear.out_features, linear.in_features)
        weight = fmt.read(part, shape, qcfg)
        set_module(model, name, QLinear(weight, a, b, scaling, bias))
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device).eval()


def read_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
