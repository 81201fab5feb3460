"""On-disk cache of prepared models (quantized base + initial adapters), keyed by prepare key.

One prepared model feeds every task of the same model, method, budget and calibration. An entry
is a safetensors file of every QLinear's buffers and A/B plus a JSON manifest, with the sha256 of
both (:mod:`suite.checksum`), built in a private folder and renamed into place, so a killed
process never leaves a half-written entry behind. :func:`load` checks the sums first and raises
:class:`Damaged` (naming the entry and what is wrong) where they fail; the caller rebuilds.

    >>> import tempfile
    >>> from pathlib import Path
    >>> import torch
    >>> from torch import nn
    >>> from suite.lora import Prepared
    >>> from suite.quant.nf import quantize_nf
    >>> from suite.quant.qlinear import QLinear
    >>> def base_model():
    ...     torch.manual_seed(0)
    ...     return nn.Sequential(nn.Linear(128, 64, bias=False))
    >>> model = base_model()
    >>> w = model[0].weight.detach()
    >>> model[0] = QLinear(quantize_nf(w, 4, 64), torch.randn(8, 128), torch.randn(64, 8), 2.0)
    >>> with tempfile.TemporaryDirectory() as cache:
    ...     entry = Path(cache) / "prepared" / "key"
    ...     save(Prepared(model, "packed", "nf", {"backend": "native"}), entry)
    ...     again = load(base_model(), entry)
    >>> x = torch.randn(3, 128)
    >>> again.quantizer, again.info, torch.equal(again.model(x), model(x))
    ('nf', {'backend': 'native'}, True)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from suite.checksum import check_entry, publish, seal, staging
from suite.lora import Prepared, set_module

FORMAT = 1


class Damaged(Exception):
    """A cache entry that fails its check; the message names its path and the first problem."""


def entry(cache: Path, key: str) -> Path:
    """Where the prepared model of prepare key ``key`` lives in the cache folder ``cache``."""
    return cache / "prepared" / key


def cacheable(prepared: Prepared) -> bool:
    """Only qbench's own QLinear layers are cached (not third-party kernels' modules)."""
    from suite.quant.qlinear import QLinear

    return all(type(layer) is QLinear for layer in prepared.layers().values())


def save(prepared: Prepared, path: Path, cost: dict | None = None) -> None:
    """Store ``prepared`` under ``path``; ``cost`` is what building it took (the prepare
    phase's metrics and the device), which a run that loads the entry records as its own."""
    from safetensors.torch import save_file

    tensors, layers = {}, {}
    for name, layer in prepared.layers().items():
        for key, value in layer.state_dict().items():
            tensors[f"{name}::{key}"] = value.detach().contiguous().cpu()
        layers[name] = {"qmeta": layer._qmeta, "scaling": layer.scaling, "storage": layer.storage}
    manifest = {
        "format": FORMAT,
        "storage": prepared.storage,
        "quantizer": prepared.quantizer,
        "info": prepared.info,
        "layers": layers,
        "cost": cost,
    }
    tmp = staging(path)
    try:
        save_file(tensors, str(tmp / "tensors.safetensors"))
        (tmp / "manifest.json").write_text(json.dumps(manifest, default=str))
        seal(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish(tmp, path)  # False: another process stored the same key first; keep its entry


def build_cost(path: Path) -> dict | None:
    """The building run's prepare cost stored with a verified entry (None: not stored)."""
    try:
        found = json.loads((path / "manifest.json").read_text()).get("cost")
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def load(model, path: Path) -> Prepared:
    """Rebuild a prepared model on top of a fresh base ``model`` from a verified cache entry."""
    from safetensors.torch import load_file

    from suite.quant.qlinear import QLinear
    from suite.quant.qtensor import QTensor

    problems = check_entry(path)
    if problems:
        raise Damaged(f"prepared-model cache entry {path} is damaged ({problems[0]})")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        tensors = load_file(str(path / "tensors.safetensors"))
        if manifest.get("format") != FORMAT:
            raise ValueError(f"format {manifest.get('format')}, expected {FORMAT}")
    except Exception as err:
        raise Damaged(
            f"prepared-model cache entry {path} is unreadable ({type(err).__name__}: {err})"
        ) from None
    for p in model.parameters():
        p.requires_grad_(False)
    device = next(model.parameters()).device
    for name, info in manifest["layers"].items():
        part = {k.split("::", 1)[1]: v for k, v in tensors.items() if k.startswith(name + "::")}
        a, b = part.pop("lora_A"), part.pop("lora_B")
        bias = part.pop("bias", None)
        if info["qmeta"] is None:
            base = part["weight"]
        else:
            base = QTensor.from_state(info["qmeta"], {k[2:]: v for k, v in part.items()})
        layer = QLinear(base, a, b, info["scaling"], bias, storage=info["storage"])
        set_module(model, name, layer.to(device))
    return Prepared(model, manifest["storage"], manifest["quantizer"], manifest["info"])
