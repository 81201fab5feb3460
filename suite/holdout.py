"""Held-out Gram matrices of the full-precision model, and the calibrated error they measure.

The harness's ``init/calib_err`` of a layer is ‖X(W − (Q + sBA))ᵀ‖_F / ‖XWᵀ‖_F with X the layer's
inputs in the *original* model on the holdout windows, which no method sees. With H = XᵀX and
E = W − (Q + sBA), ‖XEᵀ‖_F² = tr(E H Eᵀ), so the harness walks the original model once per
(model fingerprint, calibration spec, data source, device, dtype, harness code version) over the
holdout windows, stores each block's Gram matrices (float32, one per distinct input: q/k/v and
gate/up share theirs) in a directory with their sha256 sums (:mod:`suite.checksum`), and then
scores every prepared model from them, one block's file at a time: no activations are kept and
memory stays at one block's Grams. Disk: Σ in² x 4 bytes per block (13 MB per SmolLM2-135M
block, 0.4 GB for the model). A stored set that fails its sums (a truncated or altered file) is
reported in one line and computed again.

The Grams are built from the original model before a method prepares it; here QLoRA's NF4 base
on the synthetic 2-block model, with a stand-in token stream for the train split:

    >>> import tempfile
    >>> import types
    >>> from pathlib import Path
    >>> import torch
    >>> from methods.qlora import QLoRA
    >>> from suite import models
    >>> from suite.calibration import build_calibration
    >>> from suite.lora import find_targets
    >>> from suite.spec import Budget, CalibSpec
    >>> model, tok = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> spec = types.SimpleNamespace(calib=CalibSpec(4, 32, holdout_windows=2), data="sample")
    >>> calib = build_calibration(model, tok, spec, "cpu", ids=torch.arange(1024) % 256)
    >>> budget = Budget(bits=4, rank=8)
    >>> targets = find_targets(model, budget.target_modules)
    >>> originals = {name: layer.weight.detach().clone() for name, layer in targets.items()}
    >>> with tempfile.TemporaryDirectory() as cache:
    ...     grams = HoldoutGrams.build(model, calib, Path(cache) / "holdout")
    ...     again = HoldoutGrams.build(model, calib, Path(cache) / "holdout")  # checked, reused
    ...     prepared = QLoRA().prepare(model, budget, calib=None, seed=0)
    ...     errors = grams.errors(prepared, originals)  # {layer name: relative error}
    >>> len(errors), round(errors["model.layers.0.self_attn.q_proj"], 2)
    (14, 0.09)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from suite.calibration import Calibration, walk
from suite.checksum import check_entry, discard, publish, seal, staging
from suite.code_version import HARNESS
from suite.lora import Prepared
from suite.spec import LLAMA_TARGETS, key_of

FORMAT = 1


def holdout_key(fingerprint: str, calib: Calibration, dtype: torch.dtype) -> str:
    """The cache key of a model's holdout Grams (``fingerprint``: the model's files')."""
    return key_of(
        {
            "format": FORMAT,
            "harness": HARNESS,
            "model_fingerprint": fingerprint,
            "calib": vars(calib.spec),
            "data": calib.source,
            "device": str(calib.device).split(":")[0],
            "dtype": str(dtype),
        }
    )


class HoldoutGrams:
    """Per-layer Gram matrices of the holdout windows, stored block by block in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.index: dict[str, list[str]] = json.loads((path / "index.json").read_text())

    @classmethod
    def build(
        cls, model: nn.Module, calib: Calibration, path: Path, say: Callable[[str], None] = print
    ) -> HoldoutGrams:
        """The Grams stored at ``path`` once they pass their sums; computed and stored first
        where absent, or where damaged (``say`` then warns in one line)."""
        if path.is_dir():
            problems = check_entry(path)
            if not problems:
                return cls(path)
            say(f"warning: holdout Gram cache entry {path} is damaged ({problems[0]}); rebuilding")
            discard(path)
        tmp = staging(path)
        try:
            cls._compute(model, calib, tmp)
            seal(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        publish(tmp, path)  # False: another process stored the same key first; keep its entry
        return cls(path)

    @staticmethod
    @torch.no_grad()
    def _compute(model: nn.Module, calib: Calibration, tmp: Path) -> None:
        from safetensors.torch import save_file

        index: dict[str, list[str]] = {}
        blocks = walk(
            model, calib.holdout, calib.device, calib.batch_size, target_modules=LLAMA_TARGETS
        )
        for block in blocks:
            grams = block.grams()
            leaders: dict[int, str] = {}
            for name, gram in grams.items():
                leaders.setdefault(id(gram), name)
            file = f"block_{block.index:04d}.safetensors"
            tensors = {leaders[id(g)]: g.float().cpu() for g in grams.values()}
            save_file(tensors, str(tmp / file))
            index.update({name: [file, leaders[id(g)]] for name, g in grams.items()})
        (tmp / "index.json").write_text(json.dumps(index))

    def gram(self, name: str) -> torch.Tensor:
        """The Gram matrix of layer ``name`` (float32, CPU)."""
        from safetensors import safe_open

        file, leader = self.index[name]
        with safe_open(str(self.path / file), framework="pt") as f:
            return f.get_tensor(leader)

    @torch.no_grad()
    def errors(self, prepared: Prepared, originals: dict[str, torch.Tensor]) -> dict[str, float]:
        """{layer: ‖X(W − (Q + sBA))ᵀ‖_F / ‖XWᵀ‖_F} for every target layer with a holdout Gram."""
        from safetensors import safe_open

        layers = {n: m for n, m in prepared.layers().items() if n in self.index}
        by_file: dict[str, list[str]] = {}
        for name in layers:
            by_file.setdefault(self.index[name][0], []).append(name)
        out: dict[str, float] = {}
        for file, names in by_file.items():
            with safe_open(str(self.path / file), framework="pt") as f:
                loaded: dict[str, torch.Tensor] = {}
                for name in names:
                    layer = layers[name]
                    leader = self.index[name][1]
                    device = layer.lora_A.device
                    if leader not in loaded:
                        loaded[leader] = f.get_tensor(leader).to(device)
                    w = originals[name].to(device=device, dtype=torch.float64)
                    approx = layer.base_weight(torch.float32).double() + layer.delta().double()
                    out[name] = relative_error(w, w - approx, loaded[leader])
        return out


def relative_error(w: torch.Tensor, e: torch.Tensor, gram: torch.Tensor) -> float:
    """√(tr(E H Eᵀ) / tr(W H Wᵀ)): products in float32, sums in float64."""

    def energy(m: torch.Tensor) -> torch.Tensor:
        m32 = m.to(torch.float32)
        return ((m32 @ gram.to(torch.float32)).double() * m.double()).sum()

    num, den = energy(e), energy(w)
    return float((num.clamp_min(0) / den).sqrt()) if float(den) > 0 else 0.0
