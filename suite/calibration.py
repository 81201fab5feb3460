"""The Calibrator: seeded calibration windows and a block-by-block walk of a Llama-style model.

Windows: ``n_windows`` x ``seq_len`` tokens at random offsets of the WikiText-2 **train** split of
the run's data source ("\\n\\n"-joined and tokenized as :mod:`tasks.wikitext2` does), plus
``holdout_windows`` windows that share no token position with any calibration window, kept for
the harness's ``init/calib_err`` and never shown to a method. Holdout windows sit on a grid of
``seq_len`` slots with a random shift; calibration windows are drawn uniformly from the offsets
that avoid every holdout window (they may overlap each other, as in GPTQ's sampling).

The walk (:meth:`Calibration.blocks`) visits the decoder blocks in order. For block k it gives:

- ``block.inputs``: the block's inputs along the *quantized* path (outputs of the blocks already
  processed, as the method left them), shape (n_windows, seq_len, hidden);
- ``block.targets`` (with ``targets=True``): the full-precision block's outputs on the
  full-precision inputs, computed before the method touches the block;
- ``block.grams()``: per target linear layer, H = XᵀX of that layer's inputs (float64, each
  mini-batch's product taken in float32 and summed in float64), from forward hooks while the
  block, in its current state, runs on ``block.inputs``. Layers that read the same tensor
  (q/k/v, gate/up) share one Gram matrix object: treat Grams as read-only.

After the method has processed the block (replaced its linears), the walk propagates the
quantized-path inputs through the processed block, in place, mini-batch by mini-batch. Only one
block's activations are ever held: the quantized-path buffer, plus the full-precision buffer
when targets are asked for (it turns into the targets in place), plus one mini-batch's
activations. The first block's inputs are captured by a pre-hook on the first block that stops
the forward; the keyword arguments each block needs (rotary position embeddings, causal mask)
by pre-hooks on every block during one forward pass of one window, since blocks of one model
may differ in them (Gemma 3's sliding-window and global-attention blocks do).

A method reads each block's Grams as the walk reaches it and replaces the block's linears; the walk
then propagates the inputs through the processed block. Here on the synthetic 2-block model, with
a stand-in token stream for the train split (``ids``; without it, it is read from ``spec.data``):

    >>> import types
    >>> import torch
    >>> from suite import models
    >>> from suite.spec import CalibSpec
    >>> model, tok = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> spec = types.SimpleNamespace(  # a RunSpec's calib and data
    ...     calib=CalibSpec(n_windows=4, seq_len=32, holdout_windows=2), data="sample"
    ... )
    >>> calib = build_calibration(model, tok, spec, "cpu", ids=torch.arange(1024) % 256)
    >>> calib.windows.shape, calib.holdout.shape
    (torch.Size([4, 32]), torch.Size([2, 32]))
    >>> for block in calib.blocks(model):
    ...     grams = block.grams()  # {"model.layers.0.self_attn.q_proj": H, ...}
    ...     h = grams[f"{block.name}.self_attn.q_proj"]
    ...     print(block.name, tuple(h.shape), h is grams[f"{block.name}.self_attn.v_proj"])
    model.layers.0 (128, 128) True
    model.layers.1 (128, 128) True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from suite.spec import LLAMA_TARGETS, CalibSpec, SpecError

Progress = Callable[..., None]


def sample_offsets(n_tokens: int, spec: CalibSpec) -> tuple[list[int], list[int]]:
    """(calibration offsets, holdout offsets) into a stream of ``n_tokens`` tokens, seeded."""
    length, n_hold = spec.seq_len, spec.holdout_windows
    if n_tokens < (n_hold + 1) * length:
        raise SpecError(
            f"the calibration source has {n_tokens} train tokens, fewer than the "
            f"{(n_hold + 1) * length} that {n_hold} holdout + calibration windows of {length} "
            "tokens need; allowed: a smaller calib.seq_len or calib.holdout_windows, or a "
            "larger data source"
        )
    gen = torch.Generator().manual_seed(spec.seed)
    slots = n_tokens // length
    shift = int(torch.randint(0, n_tokens - slots * length + 1, (1,), generator=gen))
    chosen = torch.randperm(slots, generator=gen)[:n_hold]
    holdout = sorted(shift + int(s) * length for s in chosen)
    allowed = torch.ones(n_tokens - length + 1, dtype=torch.bool)
    for start in holdout:  # a window at o overlaps [start, start + L) iff start - L < o < start + L
        allowed[max(0, start - length + 1) : start + length] = False
    candidates = allowed.nonzero().squeeze(1)
    if candidates.numel() == 0:
        raise SpecError(
            f"no calibration window of {length} tokens fits beside {n_hold} holdout windows in "
            f"{n_tokens} tokens; allowed: a smaller calib.seq_len or calib.holdout_windows"
        )
    picks = torch.randint(0, candidates.numel(), (spec.n_windows,), generator=gen)
    return candidates[picks].tolist(), holdout


@dataclass
class Calibration:
    """Calibration and holdout token windows of one run, and the walker over a model's blocks."""

    spec: CalibSpec
    source: str  # the data source tag; the split is always "train"
    windows: torch.Tensor  # (n_windows, seq_len) int64
    holdout: torch.Tensor  # (holdout_windows, seq_len) int64
    offsets: list[int]
    holdout_offsets: list[int]
    device: str = "cpu"
    batch_size: int = 8  # windows per forward pass
    progress: Progress | None = None
    split: str = "train"

    def with_progress(self, progress: Progress | None) -> Calibration:
        return replace(self, progress=progress)

    def blocks(
        self,
        model: nn.Module,
        targets: bool = False,
        target_modules: tuple[str, ...] = LLAMA_TARGETS,
    ) -> Iterator[Block]:
        """Walk ``model``'s decoder blocks over the calibration windows (see the module docs)."""
        return walk(
            model,
            self.windows,
            self.device,
            batch_size=self.batch_size,
            targets=targets,
            target_modules=target_modules,
            progress=self.progress,
        )

    def record(self) -> dict[str, Any]:
        """What identifies the windows, for a method's ``Prepared.info``."""
        return {
            "split": self.split,
            "source": self.source,
            "seed": self.spec.seed,
            "n_windows": self.spec.n_windows,
            "seq_len": self.spec.seq_len,
            "offsets_head": self.offsets[:8],
        }


def train_token_ids(tokenizer: Any, data: str, cache: Any = None) -> torch.Tensor:
    """The WikiText-2 train split of data source ``data`` (for ``real``: the train articles of
    the Wikipedia source in cache folder ``cache``), "\\n\\n"-joined and tokenized."""
    from tasks.base import parse_source
    from tasks.wikitext2 import joined_ids

    return joined_ids(tokenizer, parse_source(data, cache), "train")


def source_id(data: str) -> str:
    """The data source as calibration records it (and as cache keys hold it): ``real`` names
    its pinned packages and extraction format, which decide its train split."""
    if data != "real":
        return data
    from tasks.real import identity

    return f"real:{identity()}"


def build_calibration(
    model: nn.Module,
    tokenizer: Any,
    spec: Any,
    device: str,
    progress: Progress | None = None,
    ids: torch.Tensor | None = None,
    batch_size: int = 8,
    cache: Any = None,
) -> Calibration:
    """Seeded calibration and holdout windows for a RunSpec ``spec`` (its ``calib`` and ``data``).

    ``ids`` may pass the train split's token ids when they are already at hand; ``cache`` is
    the cache folder the ``real`` source was pulled into (default: ``$QBENCH_CACHE``).
    """
    calib: CalibSpec = spec.calib
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if limit and calib.seq_len > limit:
        raise SpecError(
            f"calib.seq_len {calib.seq_len} exceeds the model's {limit} positions; "
            f"allowed: at most {limit}"
        )
    ids = train_token_ids(tokenizer, spec.data, cache) if ids is None else ids
    offsets, hold = sample_offsets(ids.numel(), calib)
    length = calib.seq_len

    def cut(starts: list[int]) -> torch.Tensor:
        return torch.stack([ids[s : s + length] for s in starts]).to(torch.long)

    source = source_id(spec.data)
    return Calibration(
        calib, source, cut(offsets), cut(hold), offsets, hold, device, batch_size, progress
    )


def decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """(qualified name, module list) of a Llama-style model's decoder blocks."""
    for name in ("model.layers", "model.model.layers", "layers"):
        try:
            layers = model.get_submodule(name)
        except AttributeError:
            continue
        if isinstance(layers, nn.ModuleList) and len(layers):
            return name, layers
    raise SpecError(
        f"{type(model).__name__} has no decoder blocks at model.layers; allowed: Llama-style "
        "causal LMs (LlamaForCausalLM and its relatives)"
    )


class _Stop(Exception):
    """Raised by the capture hook to end a forward pass at the first block."""


@torch.no_grad()
def capture_inputs(
    model: nn.Module, windows: torch.Tensor, device: str, batch_size: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The first block's inputs for every window, and the keyword arguments the block gets
    (without the KV cache, which calibration's cache-free block calls never use)."""
    _, layers = decoder_layers(model)
    seen: dict[str, Any] = {}

    def hook(module, args, kwargs):
        seen["x"] = args[0] if args else kwargs["hidden_states"]
        seen["kwargs"] = {k: v for k, v in kwargs.items() if k != "hidden_states"}
        raise _Stop

    handle = layers[0].register_forward_pre_hook(hook, with_kwargs=True)
    try:
        # keyword arguments from a single window, so their batch dimension (1) broadcasts
        _run_to_first_block(model, windows[:1].to(device))
        kwargs = seen["kwargs"]
        kwargs["use_cache"] = False
        for name in ("cache", "past_key_values"):  # transformers >= 5.24 name it cache
            kwargs.pop(name, None)
        out = None
        for start in range(0, len(windows), batch_size):
            _run_to_first_block(model, windows[start : start + batch_size].to(device))
            x = seen["x"]
            if out is None:
                out = torch.empty((len(windows), *x.shape[1:]), dtype=x.dtype, device=x.device)
            out[start : start + len(x)] = x
    finally:
        handle.remove()
    return out, kwargs


@torch.no_grad()
def block_kwargs(model: nn.Module, window: torch.Tensor, device: str) -> list[dict[str, Any]]:
    """The keyword arguments each decoder block gets, from one forward pass of one window
    (so their batch dimension broadcasts), without the KV cache. Blocks of one model may get
    different ones: Gemma 3's sliding-window blocks get their own mask and rotary embeddings."""
    _, layers = decoder_layers(model)
    seen: dict[int, dict[str, Any]] = {}

    def hook(index: int):
        def fn(module, args, kwargs):
            found = {k: v for k, v in kwargs.items() if k not in ("hidden_states", "cache")}
            found.pop("past_key_values", None)  # transformers >= 5.24 names it cache
            seen[index] = {**found, "use_cache": False}

        return fn

    handles = [
        layer.register_forward_pre_hook(hook(i), with_kwargs=True) for i, layer in enumerate(layers)
    ]
    try:
        model(input_ids=window[:1].to(device), use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    return [seen[i] for i in range(len(layers))]


def _run_to_first_block(model: nn.Module, ids: torch.Tensor) -> None:
    try:
        model(input_ids=ids, use_cache=False)
    except _Stop:
        return
    raise RuntimeError("the first decoder block was never called")


class GramHooks:
    """Forward pre-hooks that accumulate H = XᵀX of each named linear layer's inputs.

    Layers that receive the very same input tensor in one forward pass share one accumulator.
    Each mini-batch's product is taken in float32 and added to a float64 sum.
    """

    def __init__(self, layers: dict[str, nn.Module]) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.leader: dict[str, str] = {}
        self.tokens = 0
        self._seen: list[tuple[torch.Tensor, str]] = []
        self._handles = [m.register_forward_pre_hook(self._hook(n)) for n, m in layers.items()]

    def _hook(self, name: str):
        def fn(module, args):
            x = args[0]
            for tensor, lead in self._seen:
                if tensor is x:
                    self.leader[name] = lead
                    return
            self._seen.append((x, name))
            self.leader[name] = name
            flat = x.detach().reshape(-1, x.shape[-1]).float()
            product = (flat.T @ flat).double()
            if name in self.sums:
                self.sums[name] += product
            else:
                self.sums[name] = product

        return fn

    def end_batch(self) -> None:
        self._seen.clear()

    def remove(self) -> dict[str, torch.Tensor]:
        """Detach the hooks; return {layer name: its (possibly shared) Gram matrix}."""
        for handle in self._handles:
            handle.remove()
        self._seen.clear()
        return {name: self.sums[lead] for name, lead in self.leader.items()}


class Block:
    """One decoder block during the walk; see the module docs."""

    def __init__(
        self,
        index: int,
        name: str,
        module: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor | None,
        kwargs: dict[str, Any],
        batch_size: int,
        target_modules: tuple[str, ...],
    ) -> None:
        self.index, self.name, self.module = index, name, module
        self.inputs, self.targets = inputs, targets
        self.kwargs, self.batch_size = kwargs, batch_size
        self.target_modules = target_modules
        self.finished = False

    def linears(self, names: tuple[str, ...] | None = None) -> dict[str, nn.Module]:
        """{qualified name: module} of the block's target layers (nn.Linear or already replaced)."""
        wanted = self.target_modules if names is None else names
        return {
            f"{self.name}.{sub}": mod
            for sub, mod in self.module.named_modules()
            if sub and sub.rsplit(".", 1)[-1] in wanted and hasattr(mod, "in_features")
        }

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block, as it is now, applied to a batch of hidden states."""
        out = self.module(x, **self.kwargs)
        return out[0] if isinstance(out, tuple) else out

    @torch.no_grad()
    def grams(self, names: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """H = XᵀX (float64) of each target layer's inputs over the quantized-path inputs."""
        hooks = GramHooks(self.linears(names))
        try:
            for start in range(0, len(self.inputs), self.batch_size):
                self.forward(self.inputs[start : start + self.batch_size])
                hooks.end_batch()
        finally:
            grams = hooks.remove()
        return grams

    @torch.no_grad()
    def _map_in_place(self, buf: torch.Tensor) -> None:
        for start in range(0, len(buf), self.batch_size):
            chunk = buf[start : start + self.batch_size]
            chunk.copy_(self.forward(chunk))

    def done(self) -> None:
        """Propagate the quantized-path inputs through the (processed) block; idempotent."""
        if not self.finished:
            self._map_in_place(self.inputs)
            self.finished = True


def walk(
    model: nn.Module,
    windows: torch.Tensor,
    device: str,
    batch_size: int = 8,
    targets: bool = False,
    target_modules: tuple[str, ...] = LLAMA_TARGETS,
    progress: Progress | None = None,
) -> Iterator[Block]:
    """Yield every decoder block of ``model`` in order over ``windows`` (see the module docs).

    A block not marked done when the caller asks for the next one is propagated then.
    """
    prefix, layers = decoder_layers(model)
    hidden, _ = capture_inputs(model, windows, device, batch_size)
    per_block = block_kwargs(model, windows[:1], device)
    full = hidden.clone() if targets else None
    if progress:
        progress(0, total=len(layers))
    try:
        for index, layer in enumerate(layers):
            kwargs = per_block[index]
            block = Block(
                index, f"{prefix}.{index}", layer, hidden, full, kwargs, batch_size, target_modules
            )
            if full is not None:
                block._map_in_place(full)  # full-precision outputs, before the method acts
            yield block
            block.done()
            if progress:
                progress(1, block=index)
    finally:
        del hidden, full
