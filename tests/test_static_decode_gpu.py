"""On CUDA: the static cache's CUDA graphs give the dynamic loop's tokens and stops.

In float32 the graphed steps (key spans rounded up to a bucket, steps queued ahead) must give
the dynamic-cache loop's greedy tokens and seeded draws exactly; a replayed graph the eager
step's. In bf16 on packed bases, the first token (from the same prompt pass) must equal the
dynamic loop's, reading the bases by dequantize-then-GEMM must give the dense copies' tokens
exactly (the same weights), and the graphs over the packed kernels must decode every row to
the end (their tokens are not compared: other kernels, other rounding). The generation
benchmark's rows come out on a tiny model.
"""

from __future__ import annotations

import pytest
import torch

from tasks.generation import Sampling, StopRule, generate
from tasks.static_decode import StaticDecoder

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

PROMPTS = ["a", "hello there", "The quick brown fox jumps over the lazy dog.", "1, 2, 3,", "xyz"]
NEW = 24


def tiny(dtype):
    from suite import models

    return models.load(models.resolve("synthetic:tiny"), None, "cuda", dtype)


def graphed(model, bucket=16, ahead=True, rows=4):
    return StaticDecoder(model, rows, 48 + NEW, graphs=True, bucket=bucket, ahead=ahead)


@pytest.mark.parametrize("batch_size", [4, 3])
def test_graphed_greedy_equals_the_dynamic_cache_in_float32(batch_size):
    model, tok = tiny(torch.float32)
    ref = generate(model, tok, PROMPTS, NEW, batch_size, eos=set(), decoder="dynamic")
    for decoder in (graphed(model), graphed(model, bucket=128, ahead=False), "auto"):
        out = generate(model, tok, PROMPTS, NEW, batch_size, eos=set(), decoder=decoder)
        assert out.ids == ref.ids


def test_graphed_stops_and_draws_equal_the_dynamic_cache():
    model, tok = tiny(torch.float32)
    free = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder="dynamic")
    rule = StopRule(stop_strings=(free.texts[2][3:5],))
    ref = generate(model, tok, PROMPTS, NEW, 4, stop=rule, decoder="dynamic")
    out = generate(model, tok, PROMPTS, NEW, 4, stop=rule, decoder=graphed(model))
    assert (out.texts, out.ids, out.stopped_by) == (ref.texts, ref.ids, ref.stopped_by)
    assert "stop" in out.stopped_by
    hot = Sampling(temperature=1.3, top_k=20, top_p=0.8, seed=5)
    ref = generate(model, tok, PROMPTS, NEW, 3, sampling=hot, decoder="dynamic")
    out = generate(model, tok, PROMPTS, NEW, 3, sampling=hot, decoder=graphed(model))
    assert out.ids == ref.ids


def test_a_replayed_graph_equals_the_eager_step_in_bf16():
    model, tok = tiny(torch.bfloat16)
    eager = StaticDecoder(model, 4, 48 + NEW, graphs=False, bucket=16)
    a = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder=eager)
    b = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder=graphed(model, ahead=False))
    c = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder=graphed(model, ahead=True))
    assert a.ids == b.ids == c.ids
    ref = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder="dynamic")
    assert [i[0] for i in a.ids] == [i[0] for i in ref.ids]  # the same prompt pass
    same = sum(x == y for x, y in zip(a.ids, ref.ids, strict=True))
    print(f"bf16: {same}/{len(PROMPTS)} rows equal the dynamic cache's over {NEW} tokens")


@pytest.mark.parametrize("config", ["nf4", "int2"])
def test_packed_models_decode_on_dense_copies_and_on_the_kernels(config):
    from suite.bench.workloads import method_for
    from suite.quant.eval_bases import evaluation_bases

    model, tok = tiny(torch.bfloat16)
    method, budget = method_for(config, 8)
    model = method.prepare(model, budget, None, seed=0).model.eval()
    with evaluation_bases(model, 4) as mode:
        assert mode == "dense"
        dense = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder=graphed(model))
        dense_dynamic = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder="dynamic")
    for layer in model.modules():  # the dequantize-then-GEMM path: the dense copies' weights
        if hasattr(layer, "kernel_policy"):
            layer.kernel_policy = "dequant"
    dequant = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder=graphed(model))
    assert dequant.ids == dense.ids
    with evaluation_bases(model, 4, share=0.0) as mode:
        assert mode == "packed"
        packed = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder=graphed(model))
    assert [i[0] for i in dense.ids] == [i[0] for i in dense_dynamic.ids]
    assert all(len(i) == NEW for i in packed.ids)


def test_generation_bench_rows_on_a_tiny_model():
    from suite.bench.generation import config_rows, gsm8k_like_prompts

    model, _ = tiny(torch.bfloat16)
    prompts = gsm8k_like_prompts(259, 4, 10, 20)
    rows = config_rows(model, "tiny", [2, 4], prompts, 8, copy_gbps=1000.0)
    assert [r["batch"] for r in rows] == [2, 4]
    for row in rows:
        assert row["tokens_per_s"] > 0 and row["generate_tokens_per_s"] > 0
        assert 0 <= row["same_rows"] <= 1 and row["of_bound"] > 0


def test_graphed_gemma3_equals_the_dynamic_cache_in_float32():
    """Gemma 3 (two rotary tables, sliding and full layers, capped logits) under CUDA graphs:
    the dynamic loop's greedy tokens and seeded draws, in float32."""
    from tiny_gemma import tiny_gemma3

    _, tok = tiny(torch.float32)
    model = tiny_gemma3("sdpa", window=128, softcap=0.5).to("cuda")
    ref = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder="dynamic")
    out = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder=graphed(model))
    assert out.ids == ref.ids
    auto = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder="auto")
    assert auto.ids == ref.ids
    hot = Sampling(temperature=1.0, seed=3)
    ref = generate(model, tok, PROMPTS, NEW, 4, sampling=hot, decoder="dynamic")
    out = generate(model, tok, PROMPTS, NEW, 4, sampling=hot, decoder=graphed(model))
    assert out.ids == ref.ids
