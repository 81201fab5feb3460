"""How a ``transformers`` model takes and returns its KV cache, across versions.

``transformers`` 5.24 renamed the forward's ``past_key_values`` keyword (and the output's field)
to ``cache``; the decoding loops pass the cache by whichever name the model's forward declares,
so the same code runs on 5.x releases before 5.24 too (a GPU host with 5.17 ran it), though
pyproject.toml declares 5.24 and later. A dynamic cache's per-layer keys and values are
``cache.layers[i].keys`` / ``.values``.

    >>> def new_forward(input_ids=None, cache=None, use_cache=None): ...
    >>> def old_forward(input_ids=None, past_key_values=None, use_cache=None): ...
    >>> cache_keyword(new_forward), cache_keyword(old_forward)
    ('cache', 'past_key_values')
"""

from __future__ import annotations

import inspect
from typing import Any


def cache_keyword(forward) -> str:
    """The keyword under which ``forward`` takes the KV cache: ``cache`` or ``past_key_values``."""
    try:
        params = inspect.signature(forward).parameters
    except (TypeError, ValueError):
        return "cache"
    return "cache" if "cache" in params or "past_key_values" not in params else "past_key_values"


def last_logits_pass(model, **inputs) -> Any:
    """A forward with a cache that computes the logits of the last position only, where the
    model's forward takes ``logits_to_keep`` (the decoding loops read no other). For the
    prompts' pass this matters: a batch of 256 prompts of 300 tokens would otherwise make
    40 GB of bf16 logits over Gemma's 262k-token vocabulary, to read one row of each."""
    try:
        keep = "logits_to_keep" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        keep = False
    if keep:
        inputs["logits_to_keep"] = 1
    return model(use_cache=True, **inputs)


def returned_cache(output) -> Any:
    """The cache a forward returned, under either field name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def layer_kv(cache, index: int):
    """(keys, values) of one layer of a dynamic cache, each (rows, kv heads, length, head dim)."""
    layer = cache.layers[index]
    return layer.keys, layer.values
