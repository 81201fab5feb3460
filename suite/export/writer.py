"""Write a run's model to a folder that other libraries load.

``--format peft`` writes the adapters in peft's format at the top of the folder
(``adapter_config.json``, ``adapter_model.safetensors``) and the quantized base as a
transformers checkpoint in ``base/`` (``config.json`` with its ``quantization_config``,
``model.safetensors``, tokenizer and generation config), in the first storage format of
:mod:`suite.export.formats` that holds it exactly (bitsandbytes NF4, the GPTQ layout) or else
dequantized. ``--format merged`` writes one plain checkpoint with W = Q + s·B·A (computed in
float32), for serving engines. Tensors that are not quantized (embeddings, norms, the output
layer, a dense base, merged weights) are stored in the export dtype (bf16 by default).

Every folder gets ``qbench-export.json`` (the run, stage, chosen format and why, notes, and a
check: the largest absolute logit difference between the exported model read back by
:mod:`suite.export.reader` and the model in memory) and a README saying how to load it. The
folder is written under a temporary name next to ``out`` and renamed at the end, so a failed
export leaves nothing behind.

    manifest = export_model(run_model, Path("exported"), "peft", torch.bfloat16)
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from suite.export import peft_files
from suite.export.formats import Choice, Dense, Layer, choose, dtype_name
from suite.export.reader import BASE_DIR, MANIFEST, load_export
from suite.spec import SpecError

FORMATS = ("peft", "merged")
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
BASES = ("auto", "bnb-nf4", "gptq", "dense")
PROBE = "The quick brown fox jumps over the lazy dog. 1, 2, 3: the end."


def check_out_dir(out: Path) -> None:
    """SpecError unless ``out`` is a new or empty directory whose parent can be written."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SpecError(
            f"output directory {out} exists and is not empty; allowed: a new or empty directory"
        )
    parent = out.resolve().parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise SpecError(f"output directory {out} cannot be created here; allowed: a writable path")


def qtensor_of(layer: nn.Module) -> Any:
    """The layer's packed base as a QTensor (bitsandbytes' Linear4bit base included), or None."""
    from suite.quant.bnb import BnbQLinear
    from suite.quant.dq import DoubleQuant, DQSpec
    from suite.quant.nf import nf_codebook
    from suite.quant.qtensor import QTensor

    if isinstance(layer, BnbQLinear):
        weight = layer.base.weight
        state = weight.quant_state
        shape = (layer.out_features, layer.in_features)
        codes, book = weight.data.reshape(-1), nf_codebook(4)
        if not state.nested:
            absmax = state.absmax.float().reshape(shape[0], shape[1] // state.blocksize)
            return QTensor("nf", 4, state.blocksize, shape, codes, absmax, None, book)
        dq = DoubleQuant(  # bitsandbytes' compress_statistics: QLoRA's double quantization
            DQSpec(block=state.state2.blocksize),
            state.absmax.numel(),
            state.absmax.reshape(-1),
            state.state2.absmax.float(),
            state.offset.float().reshape(1),
        )
        return QTensor("nf", 4, state.blocksize, shape, codes, None, None, book, dq)
    return layer.qtensor()


def target_layers(model: nn.Module) -> dict[str, nn.Module]:
    from suite.quant.qlinear import QLinear

    return {n: m for n, m in model.named_modules() if isinstance(m, QLinear)}


def _layer(module: nn.Module) -> Layer:
    qt = qtensor_of(module)
    bias = module.bias
    if bias is None and hasattr(module, "base"):  # bitsandbytes' layer holds the bias itself
        bias = module.base.bias
    bias = None if bias is None else bias.detach().cpu()
    if qt is not None:
        return Layer(qt.to("cpu"), None, bias)
    return Layer(None, module.weight.detach().cpu(), bias)


def _under(key: str, names: set[str]) -> bool:
    parts = key.split(".")
    return any(".".join(parts[:i]) in names for i in range(1, len(parts)))


def _tied_key(model: nn.Module) -> str | None:
    """The output layer's weight key when it is tied to the input embeddings (not saved)."""
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    if not getattr(model.config, "tie_word_embeddings", False) or out is None or inp is None:
        return None
    if out.weight is not inp.weight:
        return None
    return next(f"{n}.weight" for n, m in model.named_modules() if m is out)


def write_checkpoint(
    folder: Path, model: nn.Module, tokenizer: Any, layers: dict[str, Layer], plan: Any
) -> None:
    """A transformers checkpoint of ``model`` with its target ``layers`` stored by ``plan``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    names = set(layers)
    tied = _tied_key(model)
    state: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if _under(key, names) or key == tied:
            continue
        value = value.detach().cpu()
        state[key] = (value.to(plan.dtype) if value.is_floating_point() else value).clone()
    for name, layer in layers.items():
        for key, value in plan.tensors(layer).items():
            state[f"{name}.{key}"] = value.contiguous()
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = copy.deepcopy(model.config)
    config.dtype = plan.dtype
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    quant = plan.config()
    if quant is not None:
        config.quantization_config = quant
    config.save_pretrained(folder)
    generation = getattr(model, "generation_config", None)
    if generation is not None:
        generation.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    for name, content in plan.extra_files().items():
        (folder / name).write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")


def _skip_modules(model: nn.Module, names: set[str]) -> tuple[str, ...]:
    """Full names of the linear layers that are not quantized (the output layer included)."""
    return tuple(n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n not in names)


def _peft(run_model: Any, tmp: Path, out: Path, dtype: torch.dtype, base: str) -> dict[str, Any]:
    modules = target_layers(run_model.model)
    layers = {name: _layer(module) for name, module in modules.items()}
    why = Choice()
    skip = _skip_modules(run_model.model, set(layers))
    try:
        plan = choose(layers, dtype, skip, None if base == "auto" else base, why)
    except Exception:
        allowed = ", ".join(b for b in BASES if b not in why.passed_over)
        reason = "; ".join(f"{k}: {v}" for k, v in why.passed_over.items())
        raise SpecError(
            f"--base {base} cannot store this run's base ({reason}); allowed: {allowed}"
        ) from None
    write_checkpoint(tmp / BASE_DIR, run_model.model, run_model.tokenizer, layers, plan)
    spec = run_model.ref.spec
    config = peft_files.adapter_config(
        {n: (m.rank, m.scaling) for n, m in modules.items()},
        spec.budget.lora_alpha,
        spec.budget.rank,
        spec.train.lora_dropout,
        str((out / BASE_DIR).resolve()),
    )
    peft_files.write(tmp, {n: (m.lora_A, m.lora_B) for n, m in modules.items()}, config)
    return {
        "base_format": plan.name,
        "loaded_by": plan.library,
        "exact": plan.exact,
        "notes": [*plan.notes, *_dtype_notes(run_model.model, dtype)],
        "passed_over": why.passed_over,
        "lora": {
            "r": config["r"],
            "lora_alpha": config["lora_alpha"],
            "dropout": config["lora_dropout"],
        },
    }


def _dtype_notes(model: nn.Module, dtype: torch.dtype) -> list[str]:
    """A note when the tensors that are not quantized lose precision in the export dtype."""
    held = {
        p.dtype
        for n, p in model.named_parameters()
        if "lora_" not in n and p.dtype.is_floating_point  # packed codes are not "held" floats
    }
    if all(torch.finfo(d).bits <= torch.finfo(dtype).bits for d in held if d != dtype):
        return []
    return [
        f"embeddings, norms and the output layer are stored in {dtype_name(dtype)} (the model "
        "held them in " + ", ".join(sorted(dtype_name(d) for d in held)) + "): logits differ by "
        "that rounding; --dtype float32 keeps them"
    ]


def _merged(run_model: Any, tmp: Path, dtype: torch.dtype) -> dict[str, Any]:
    modules = target_layers(run_model.model)
    layers = {}
    with torch.no_grad():
        for name, module in modules.items():
            layer = _layer(module)
            merged = layer.dense() + module.delta().cpu()
            layers[name] = Layer(None, merged, layer.bias)
    note = f"merged: W = Q + s·B·A computed in float32 and stored in {dtype_name(dtype)}"
    plan = Dense(dtype, (note,), dtype == torch.float32)
    write_checkpoint(tmp, run_model.model, run_model.tokenizer, layers, plan)
    return {
        "base_format": "merged",
        "loaded_by": Dense.library,
        "exact": plan.exact,
        "notes": [note],
    }


def check_logits(run_model: Any, folder: Path) -> dict[str, Any]:
    """Largest absolute logit difference, exported (read back) vs in memory, on a probe text."""
    device = next(run_model.model.parameters()).device
    again, _ = load_export(folder, str(device))
    ids = run_model.tokenizer(PROBE, return_tensors="pt").input_ids.to(device)
    with torch.no_grad():
        ours = run_model.model(input_ids=ids).logits.float()
        theirs = again(input_ids=ids).logits.float()
    diff = (ours - theirs).abs().max().item()
    return {"max_abs_logit_diff": diff, "probe_tokens": int(ids.numel()), "read_by": "qbench"}


def export_model(
    run_model: Any,
    out: Path,
    fmt: str,
    dtype: torch.dtype,
    base: str = "auto",
    check: bool = True,
) -> dict[str, Any]:
    """Write ``run_model`` to ``out`` (see the module doc); return the manifest written.

    ``check=False`` skips reading the folder back (which holds a second copy of the model).
    """
    from suite.context import qbench_version

    if fmt not in FORMATS:
        raise SpecError(f"format '{fmt}' is not allowed; allowed: {', '.join(FORMATS)}")
    check_out_dir(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # removed on failure
    ref, spec = run_model.ref, run_model.ref.spec
    try:
        tmp.mkdir(parents=True)
        if fmt == "peft":
            written = _peft(run_model, tmp, out, dtype, base)
        else:
            written = _merged(run_model, tmp, dtype)
        manifest = {
            "qbench_version": qbench_version(),
            "run_id": ref.run_id,
            "run_key": ref.tags.get("run_key"),
            "tracking_uri": ref.uri,
            "stage": run_model.stage,
            "format": fmt,
            "dtype": dtype_name(dtype),
            "method": spec.method,
            "model": spec.model,
            "bits": spec.budget.bits,
            "group_size": spec.budget.group_size,
            "rank": spec.budget.rank,
            "task": spec.task,
            "prepared_from": run_model.origin,
            **written,
            "layers": {n: _layer(m).describe() for n, m in target_layers(run_model.model).items()},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        if check:
            manifest["check"] = check_logits(run_model, tmp)
            text = json.dumps(manifest, indent=1) + "\n"
            (tmp / MANIFEST).write_text(text, encoding="utf-8")
        (tmp / "README.md").write_text(readme(manifest), encoding="utf-8")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made:  # innermost first; only the empty folders this call created
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    return manifest


def readme(manifest: dict[str, Any]) -> str:
    """How to load the folder, with the manifest's notes."""
    lines = [
        f"# {manifest['method']} {manifest['bits']}-bit, rank {manifest['rank']} "
        f"({manifest['stage']}), exported by qbench {manifest['qbench_version']}",
        "",
        f"Run `{manifest['run_id']}` (run key `{manifest['run_key']}`) on `{manifest['model']}`, "
        f"task {manifest['task']}. Base format: **{manifest['base_format']}**, loaded by "
        f"{manifest['loaded_by']}.",
        "",
    ]
    lines += [f"- {note}" for note in manifest["notes"]]
    lines += ["", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer"]
    if manifest["format"] == "merged":
        lines += [
            'model = AutoModelForCausalLM.from_pretrained("THIS_FOLDER")',
            'tokenizer = AutoTokenizer.from_pretrained("THIS_FOLDER")',
        ]
    else:
        lines += [
            "from peft import PeftModel",
            "",
            'base = AutoModelForCausalLM.from_pretrained("THIS_FOLDER/base")',
            'model = PeftModel.from_pretrained(base, "THIS_FOLDER")',
            'tokenizer = AutoTokenizer.from_pretrained("THIS_FOLDER/base")',
        ]
    lines += ["```", ""]
    check = manifest.get("check")
    if check:
        lines.append(
            f"Read back by qbench, the largest absolute logit difference against the exported "
            f"model was {check['max_abs_logit_diff']:.3g} on a {check['probe_tokens']}-token probe."
        )
    return "\n".join(lines) + "\n"
