"""A random Gemma 3 text model small enough for the CPU tests (and the GPU ones)."""

from __future__ import annotations

import torch


def tiny_gemma3(attn: str, window: int = 64, softcap: float | None = 30.0):
    """A random two-layer-type Gemma 3 text model over the byte tokenizer's vocabulary."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=259, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=1, head_dim=16, sliding_window=window,
        layer_types=["sliding_attention", "full_attention"] * 2, query_pre_attn_scalar=16,
        final_logit_softcapping=softcap, rope_local_base_freq=10_000.0, pad_token_id=0,
        bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    config._attn_implementation = attn
    return Gemma3ForCausalLM(config).eval()
