"""The static-cache decoder gives the dynamic-cache loop's tokens, stops and draws on the CPU.

The CPU runs the same steps as CUDA, without graphs: exact key spans (``bucket=1``) or spans
rounded up to a bucket (masked columns), the plain loop or the loop that queues each greedy step
before the host reads the last one (``ahead``, what CUDA graphs use).
"""

from __future__ import annotations

import pytest
import torch
from tiny_gemma import tiny_gemma3

from tasks.generation import Sampling, StopRule, generate
from tasks.static_decode import FixedCache, StaticDecoder, unsupported

pytestmark = pytest.mark.usefixtures("one_thread")

PROMPTS = ["a", "hello there", "The quick brown fox jumps over the lazy dog.", "1, 2, 3,", "xyz"]
NEW = 14


def static(model, bucket: int = 1, ahead: bool = False, rows: int = 4) -> StaticDecoder:
    width = max(len(p) for p in PROMPTS) + 2  # bytes plus BOS, with room
    return StaticDecoder(model, rows, width + NEW, graphs=False, bucket=bucket, ahead=ahead)


@pytest.mark.parametrize("batch_size", [4, 3])
@pytest.mark.parametrize(("bucket", "ahead"), [(1, False), (16, False), (1, True), (8, True)])
def test_greedy_tokens_equal_the_dynamic_cache(tiny, batch_size, bucket, ahead):
    model, tok = tiny
    lengths = [len(tok(p).input_ids) for p in PROMPTS]
    assert max(lengths) >= 4 * min(lengths)  # left padding is really exercised
    ref = generate(model, tok, PROMPTS, NEW, batch_size, eos=set(), decoder="dynamic")
    out = generate(
        model, tok, PROMPTS, NEW, batch_size, eos=set(), decoder=static(model, bucket, ahead)
    )
    assert out.ids == ref.ids and out.texts == ref.texts
    assert out.new_tokens == [NEW] * len(PROMPTS)


@pytest.mark.parametrize("ahead", [False, True])
def test_stop_rules_and_eos_are_honoured(tiny, ahead):
    model, tok = tiny
    free = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder="dynamic")
    stop_at = free.texts[2][3:5]  # a string the third row meets after a few tokens
    assert stop_at
    rules = [
        StopRule(stop_strings=(stop_at,)),
        StopRule(done=lambda text: 2 if len(text) >= 4 else None),
    ]
    for rule in rules:
        ref = generate(model, tok, PROMPTS, NEW, 4, stop=rule, decoder="dynamic")
        out = generate(model, tok, PROMPTS, NEW, 4, stop=rule, decoder=static(model, 8, ahead))
        assert (out.texts, out.ids, out.stopped_by) == (ref.texts, ref.ids, ref.stopped_by)
        assert "stop" in out.stopped_by
    # an end-of-sequence id: the first token some row generates
    first = free.ids[1][0]
    ref = generate(model, tok, PROMPTS, NEW, 4, eos={first}, decoder="dynamic")
    out = generate(model, tok, PROMPTS, NEW, 4, eos={first}, decoder=static(model, 8, ahead))
    assert (out.ids, out.stopped_by) == (ref.ids, ref.stopped_by)
    assert out.stopped_by[1] == "eos" and out.ids[1] == []


@pytest.mark.parametrize(
    "sampling",
    [Sampling(temperature=1.3, top_k=20, top_p=0.8, seed=5), Sampling(temperature=0.7, seed=1)],
)
def test_sampling_draws_equal_the_dynamic_cache(tiny, sampling):
    model, tok = tiny
    ref = generate(model, tok, PROMPTS, NEW, 3, sampling=sampling, decoder="dynamic")
    out = generate(model, tok, PROMPTS, NEW, 3, sampling=sampling, decoder=static(model, 16, True))
    assert out.ids == ref.ids and out.stopped_by == ref.stopped_by
    assert len({tuple(i) for i in out.ids}) > 1


def test_auto_keeps_the_dynamic_cache_on_the_cpu(tiny, monkeypatch):
    from tasks import static_decode

    model, tok = tiny
    made = []
    real = static_decode.StaticDecoder.__init__
    monkeypatch.setattr(
        static_decode.StaticDecoder, "__init__", lambda *a, **k: made.append(1) or real(*a, **k)
    )
    generate(model, tok, PROMPTS[:2], 3)
    assert made == []
    generate(model, tok, PROMPTS[:2], 3, decoder="static")
    assert made == [1]


def test_unsupported_models_and_sizes_are_refused(tiny):
    model, tok = tiny
    assert unsupported(model) is None
    gemma_like = type("M", (), {"config": type("C", (), {"model_type": "gemma3"})()})()
    assert "gemma3" in unsupported(gemma_like)
    with pytest.raises(ValueError, match="allowed: decoder='dynamic'"):
        generate(gemma_like, tok, ["a"], 2, decoder="static")
    with pytest.raises(ValueError, match="allowed: rows <= 2"):
        generate(model, tok, PROMPTS, 2, batch_size=3, decoder=static(model, rows=2))
    with pytest.raises(ValueError, match="allowed: auto, dynamic, static"):
        generate(model, tok, PROMPTS, 2, decoder="graph")


def test_fixed_cache_writes_the_slot_and_returns_the_span():
    cache = FixedCache(layers=1, rows=2, length=8, heads=1, head_dim=2, dtype=torch.float32,
                       device="cpu")  # fmt: skip
    cache.slot.fill_(3)
    cache.span = 5
    k = torch.ones(2, 1, 1, 2)
    keys, values = cache.update(k, 2 * k, 0, {"cache_position": None})
    assert keys.shape == (2, 1, 5, 2) and values.shape == (2, 1, 5, 2)
    assert cache.keys[0][:, :, 3].eq(1).all() and cache.values[0][:, :, 3].eq(2).all()
    assert cache.keys[0].sum() == 4  # nothing else written


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize(("bucket", "ahead"), [(1, False), (8, True)])
def test_gemma3_greedy_tokens_equal_the_dynamic_cache(tiny, attn, bucket, ahead):
    """Gemma 3's steps (a rotary table per layer type, sliding and full layers, capped final
    logits) give the dynamic loop's tokens when the call fits in the sliding window."""
    _, tok = tiny
    model = tiny_gemma3(attn)
    assert unsupported(model, 64) is None
    ref = generate(model, tok, PROMPTS, NEW, 4, eos=set(), decoder="dynamic")
    assert len({tuple(i) for i in ref.ids}) > 1
    out = generate(
        model, tok, PROMPTS, NEW, 4, eos=set(), decoder=static(model, bucket, ahead)
    )  # fmt: skip
    assert out.ids == ref.ids and out.texts == ref.texts


def test_gemma3_past_its_sliding_window_keeps_the_dynamic_cache(tiny):
    _, tok = tiny
    model = tiny_gemma3("sdpa", window=16)
    assert "sliding window of 16" in unsupported(model, 17) and unsupported(model, 16) is None
    with pytest.raises(ValueError, match="sliding window of 16"):
        static(model)
    with pytest.raises(ValueError, match="allowed: decoder='dynamic'"):
        generate(model, tok, PROMPTS, NEW, 4, decoder="static")


def test_gemma3_sampled_draws_equal_the_dynamic_cache(tiny):
    """Draws depend on the capped logits' values, not only on their order (greedy would not
    see a missing cap); the two layer types' rotary tables differ in this model."""
    _, tok = tiny
    model = tiny_gemma3("sdpa", softcap=0.1)  # well inside the logits' range
    sampling = Sampling(temperature=1.0, seed=3)
    ref = generate(model, tok, PROMPTS, NEW, 4, sampling=sampling, decoder="dynamic")
    out = generate(model, tok, PROMPTS, NEW, 4, sampling=sampling, decoder=static(model, 8, True))
    assert out.ids == ref.ids
    positions = torch.arange(3)[None]
    x = torch.zeros(1, 3, 64)
    local = model.model.rotary_emb(x, positions, "sliding_attention")
    full = model.model.rotary_emb(x, positions + 5, "full_attention")
    assert not torch.equal(local[0], full[0])
