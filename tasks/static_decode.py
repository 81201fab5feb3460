"""Decoding steps over a static KV cache, replayed as CUDA graphs on a GPU.

:class:`StaticDecoder` holds, for up to ``rows`` rows, a key and a value buffer per layer of
``length`` columns, allocated once (zeros) for a whole :func:`tasks.generation.generate` call.
The prompts of a batch go through the model exactly as on the dynamic path (one forward with
``transformers``' dynamic cache, so the prompt logits are the same), and their keys and values
are copied into columns ``0 .. width - 1``. Each decoding step then runs the model's own modules
(embedding, rotary embedding, decoder layers, final norm, LM head) on one token per row: every
layer writes its key and value at the step's column through :class:`FixedCache` and attends to
the columns from the row's first real token up to the step's column, through an explicit mask
built inside the step from device tensors. Columns past the step are masked, so a step may read
a longer span than it needs: the span is rounded up to a multiple of ``bucket`` columns. Each
span is one more CUDA graph to capture (about 0.1-0.2 s for a 7B model), which costs more than
reading up to 255 unused columns for a few hundred steps, hence the default of 256.

Every tensor a step reads or writes (token ids, positions, the column, the cache, the mask's
inputs) lives at a fixed address, so on CUDA each (rows, span) step is captured once as a CUDA
graph and replayed: one launch per step instead of a thousand, and no per-step host work in the
layers (the packed kernels' Python launch code included). On the CPU (``graphs=False``) the
same step runs eagerly; with ``bucket=1`` it attends to exactly the columns the dynamic path
does, which is how the CPU tests check it against :mod:`tasks.generation`'s dynamic loop.
``ahead`` (on by default with graphs) lets the greedy loop queue a step before the host has read
the previous step's tokens; the CPU tests turn it on to check that loop too.

Rows are independent in every operation of a step (matmuls, norms, attention per row), so what
a finished row is fed does not change the other rows' results.

Models: ``transformers`` Llama-architecture causal LMs (SmolLM2 and the synthetic shapes
included) and Gemma 3 text models, with ``sdpa`` or ``eager`` attention; :func:`unsupported`
says why another model is not, and the generation loop then keeps the dynamic cache. Gemma 3's
steps use a rotary table per layer type and cap the final logits as its forward does; its
sliding-window layers attend to the last ``sliding_window`` columns, so a decoder for Gemma 3
is made only when the whole call fits in that window (then a sliding layer's mask is the full
layer's, and the dynamic cache's sliding layers keep every prompt column). Gemma 3 270M's
window is 512 columns; in the real source a GSM8K prompt takes at most 209 tokens (+ 256 new),
a commonsense prompt at most 429 (+ 32) but for one PIQA item of 514, whose set then decodes
with the dynamic cache.

    >>> import torch
    >>> from suite import models
    >>> model, tok = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> unsupported(model) is None
    True
    >>> decoder = StaticDecoder(model, rows=2, length=16, graphs=False, bucket=1)
    >>> size = 2 * 2 * 2 * 16 * 2 * 32 * 4  # K and V, layers, rows, columns, heads, head width
    >>> decoder.cache_bytes() == StaticDecoder.needed_bytes(model, 2, 16) == size
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tasks.cache_io import cache_keyword, last_logits_pass, layer_kv, returned_cache

if TYPE_CHECKING:
    import torch

SUPPORTED_TYPES = ("llama", "gemma3_text")


def unsupported(model, length: int | None = None) -> str | None:
    """Why the static decoder cannot drive ``model`` (None: it can); ``length``: the cache
    columns a call needs (Gemma 3 only up to its sliding window, see the module doc)."""
    config = getattr(model, "config", None)
    kind = getattr(config, "model_type", None)
    if kind not in SUPPORTED_TYPES:
        return f"model type {kind!r} (supported: {', '.join(SUPPORTED_TYPES)})"
    impl = getattr(config, "_attn_implementation", None) or "eager"
    if impl not in ("sdpa", "eager"):
        return f"attention implementation {impl!r} (supported: sdpa, eager)"
    inner = getattr(model, "model", None)
    parts = ("embed_tokens", "rotary_emb", "layers", "norm")
    if inner is None or not all(hasattr(inner, p) for p in parts) or not hasattr(model, "lm_head"):
        return "the model lacks model.embed_tokens/rotary_emb/layers/norm or lm_head"
    rope = str(getattr(inner.rotary_emb, "rope_type", "default"))
    if "dynamic" in rope or "longrope" in rope:
        return f"rope type {rope!r} recomputes its frequencies per call"
    if kind == "gemma3_text":
        if getattr(config, "use_bidirectional_attention", False):
            return "bidirectional attention (Gemma 3's use_bidirectional_attention)"
        window = getattr(config, "sliding_window", None)
        if length is not None and window is not None and length > window:
            return (
                f"{length} cache columns, past Gemma 3's sliding window of {window} (its sliding "
                "layers would attend to fewer columns than a static step reads)"
            )
    return None


class FixedCache:
    """Per-layer key and value buffers (rows, kv heads, length, head dim) at fixed addresses.

    A decoder layer calls ``update`` with one step's keys and values: they are written at column
    ``slot`` (a one-element device tensor) of the first ``rows`` rows, and the first ``span``
    columns come back for attention. ``rows`` and ``span`` are plain attributes, read when the
    step runs (or is captured).
    """

    def __init__(
        self, layers: int, rows: int, length: int, heads: int, head_dim: int, dtype, device
    ):
        import torch

        shape = (rows, heads, length, head_dim)
        # zeros: masked columns are multiplied by an attention weight of 0, never NaN garbage
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.slot = torch.zeros(1, dtype=torch.long, device=device)
        self.rows, self.span = rows, length

    def update(self, key_states, value_states, layer_idx: int, *args: Any, **kwargs: Any):
        keys = self.keys[layer_idx][: self.rows]
        values = self.values[layer_idx][: self.rows]
        keys.index_copy_(2, self.slot, key_states)
        values.index_copy_(2, self.slot, value_states)
        return keys[:, :, : self.span], values[:, :, : self.span]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))


def _head_shape(config) -> tuple[int, int]:
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return getattr(config, "num_key_value_heads", None) or heads, head_dim


def _rotary_per_type(rotary) -> bool:
    """Whether the rotary embedding takes a layer type (Gemma 3's local and global tables)."""
    import inspect

    try:
        return "layer_type" in inspect.signature(rotary.forward).parameters
    except (TypeError, ValueError):
        return False


class StaticDecoder:
    """Prompt pass and single-token steps over a :class:`FixedCache` (see the module doc)."""

    def __init__(
        self,
        model,
        rows: int,
        length: int,
        graphs: bool,
        bucket: int = 256,
        ahead: bool | None = None,
    ):
        import torch

        why = unsupported(model, length)
        if why is not None:
            raise ValueError(f"the static decoder cannot run {why}; allowed: decoder='dynamic'")
        config = model.config
        inner = model.model
        self.model = model
        self.embed, self.rotary, self.norm = inner.embed_tokens, inner.rotary_emb, inner.norm
        self.layers = list(inner.layers[: config.num_hidden_layers])
        # Gemma 3: a rotary table per layer type, and a cap on the final logits
        self.layer_types = (
            list(config.layer_types[: len(self.layers)]) if _rotary_per_type(self.rotary) else None
        )
        self.softcap = getattr(config, "final_logit_softcapping", None)
        self.cache_kw = cache_keyword(self.layers[0].forward)
        weight = self.embed.weight
        self.device, self.dtype = weight.device, weight.dtype
        self.eager_mask = (getattr(config, "_attn_implementation", None) or "eager") == "eager"
        kv_heads, head_dim = _head_shape(config)
        self.cache = FixedCache(
            len(self.layers), rows, length, kv_heads, head_dim, self.dtype, self.device
        )
        self.length, self.bucket, self.graphs = length, max(1, bucket), graphs
        self.ahead = graphs if ahead is None else ahead  # greedy steps queued one ahead
        self.ids = torch.zeros((rows, 1), dtype=torch.long, device=self.device)
        self.pos = torch.zeros((rows, 1), dtype=torch.long, device=self.device)
        self.start = torch.zeros((rows, 1), dtype=torch.long, device=self.device)
        self.first = torch.zeros((rows, 1), dtype=torch.long, device=self.device)
        self.columns = torch.arange(length, device=self.device)
        self.rows = rows
        self.captured: dict[tuple[int, int], tuple[Any, torch.Tensor]] = {}
        self.pool = torch.cuda.graph_pool_handle() if graphs else None

    @staticmethod
    def needed_bytes(model, rows: int, length: int) -> int:
        """Bytes of the cache a decoder for ``rows`` x ``length`` would allocate."""
        config = model.config
        kv_heads, head_dim = _head_shape(config)
        size = next(model.parameters()).element_size()
        return 2 * config.num_hidden_layers * rows * length * kv_heads * head_dim * size

    def cache_bytes(self) -> int:
        return self.cache.nbytes()

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor):
        """The prompts' pass (left-padded ``ids``, ``mask`` and ``positions`` as the dynamic loop
        makes them); fills columns ``0 .. width - 1`` and returns the last position's logits."""
        rows, width = ids.shape
        if rows > self.rows or width >= self.length:
            raise ValueError(
                f"a batch of {rows} rows x {width} columns does not fit a static cache of "
                f"{self.rows} rows x {self.length} columns; allowed: rows <= {self.rows}, "
                f"width < {self.length}"
            )
        out = last_logits_pass(
            self.model, input_ids=ids, attention_mask=mask, position_ids=positions
        )
        dynamic = returned_cache(out)
        for i in range(len(self.layers)):
            keys, values = layer_kv(dynamic, i)
            self.cache.keys[i][:rows, :, :width].copy_(keys)
            self.cache.values[i][:rows, :, :width].copy_(values)
        self.first[:rows].copy_((mask == 0).sum(-1, keepdim=True))
        self.start[:rows].copy_(positions[:, -1:] + 1)
        return out.logits[:, -1]

    def span(self, column: int) -> int:
        """Key columns a step at ``column`` reads: column + 1 rounded up to the bucket."""
        return min(self.length, -(-(column + 1) // self.bucket) * self.bucket)

    def step(self, column: int, feed: torch.Tensor, step: int) -> torch.Tensor:
        """Logits (rows, vocab) after feeding ``feed`` (one token id per row, on the device) at
        cache column ``column``; ``step`` counts decoding steps from 0 (positions advance by it).
        The returned tensor is overwritten by the next step."""
        import torch

        rows = feed.shape[0]
        if column >= self.length:
            raise ValueError(f"column {column} is past the static cache's {self.length} columns")
        self.ids[:rows].copy_(feed.view(rows, 1))
        torch.add(self.start[:rows], step, out=self.pos[:rows])
        self.cache.slot.fill_(column)
        span = self.span(column)
        if not self.graphs:
            return self._forward(rows, span)
        key = (rows, span)
        if key not in self.captured:
            self.captured[key] = self._capture(rows, span)
        graph, logits = self.captured[key]
        graph.replay()
        return logits

    def _forward(self, rows: int, span: int) -> torch.Tensor:
        import torch

        self.cache.rows, self.cache.span = rows, span
        hidden = self.embed(self.ids[:rows])
        columns = self.columns[:span]
        allowed = (columns >= self.first[:rows]) & (columns <= self.cache.slot)
        mask = allowed[:, None, None, :]
        if self.eager_mask:  # eager attention adds the mask to the scores
            low = torch.finfo(hidden.dtype).min
            mask = torch.zeros(mask.shape, dtype=hidden.dtype, device=self.device).masked_fill(
                ~mask, low
            )
        positions = self.pos[:rows]
        if self.layer_types is None:
            tables = [self.rotary(hidden, positions)] * len(self.layers)
        else:
            by_type = {t: self.rotary(hidden, positions, t) for t in sorted(set(self.layer_types))}
            tables = [by_type[t] for t in self.layer_types]
        for layer, embeddings in zip(self.layers, tables, strict=True):
            out = layer(
                hidden,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                position_embeddings=embeddings,
                **{self.cache_kw: self.cache},
            )
            hidden = out[0] if isinstance(out, tuple) else out
        logits = self.model.lm_head(self.norm(hidden))[:, -1]
        if self.softcap is not None:  # as the model's own forward caps them
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def _capture(self, rows: int, span: int):
        """A CUDA graph of one step. The warm-up run executes the step for real, with the inputs
        already in place, so it writes the same key and value the replay writes."""
        import torch

        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            self._forward(rows, span)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            logits = self._forward(rows, span)
        return graph, logits
