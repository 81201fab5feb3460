"""Batched generation: left padding and the KV cache change nothing; stops and sampling hold."""

import functools
import warnings
from types import SimpleNamespace

import pytest
import torch

from tasks.generation import Sampling, StopRule, generate, pick, warp

PROMPTS = [
    "Question: Tom has 3 apples and buys 4 more. How many apples does he have?\nAnswer:",
    "The capital of France is",
    "1, 2, 3, 4,",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who",
    "Hi",
    "def add(a, b):",
]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_batched_greedy_equals_one_at_a_time_and_transformers(smollm2):
    model, tok = smollm2
    torch.manual_seed(0)
    lengths = [len(tok(p).input_ids) for p in PROMPTS]
    assert max(lengths) - min(lengths) >= 10  # padding is really exercised
    batched = generate(model, tok, PROMPTS, max_new_tokens=6, batch_size=8)
    single = generate(model, tok, PROMPTS, max_new_tokens=6, batch_size=1)
    assert batched.texts == single.texts
    assert batched.new_tokens == single.new_tokens
    assert batched.prompt_tokens == lengths
    # and the loop is transformers' own greedy search on an unpadded prompt
    for i in (0, 3):
        enc = tok(PROMPTS[i], return_tensors="pt")
        ref = model.generate(**enc, max_new_tokens=6, do_sample=False)
        new = ref[0, enc.input_ids.shape[1] :]
        assert tok.decode(new, skip_special_tokens=True) == single.texts[i]


def test_stop_rule_cuts_the_text_and_frees_the_row(tiny):
    model, tok = tiny
    prompts = ["abc", "a much longer prompt"]
    free = generate(model, tok, prompts, max_new_tokens=5, batch_size=2)
    assert free.new_tokens == [5, 5] and free.stopped_by == ["length", "length"]
    rule = StopRule(done=lambda text: 0 if len(text) >= 1 else None)
    out = generate(model, tok, prompts, max_new_tokens=5, batch_size=2, stop=rule)
    assert out.texts == ["", ""] and out.new_tokens == [1, 1]
    assert out.stopped_by == ["stop", "stop"]
    first = free.texts[1][:1]
    cut = generate(model, tok, prompts[1:], 5, stop=StopRule(stop_strings=(first,)))
    assert cut.texts == [""] and cut.stopped_by == ["stop"]


def test_sampling_is_seeded(tiny):
    model, tok = tiny
    prompts = ["hello", "world!", "xyz"]
    hot = Sampling(temperature=1.5, seed=3)
    a = generate(model, tok, prompts, 12, batch_size=3, sampling=hot)
    b = generate(model, tok, prompts, 12, batch_size=3, sampling=hot)
    c = generate(model, tok, prompts, 12, batch_size=3, sampling=Sampling(temperature=1.5, seed=4))
    assert a.texts == b.texts
    assert a.texts != c.texts


def test_top_k_one_and_tiny_top_p_are_greedy():
    logits = torch.randn(16, 50)
    g = torch.Generator().manual_seed(0)
    best = logits.argmax(-1)
    assert torch.equal(pick(logits, Sampling(temperature=1.0, top_k=1), g), best)
    assert torch.equal(pick(logits, Sampling(temperature=1.0, top_p=1e-6), g), best)
    # top-p keeps the smallest set whose mass reaches p: with two tokens at 0.5 each, both
    two = torch.log(torch.tensor([[0.5, 0.5, 1e-9, 1e-9]])).repeat(200, 1)
    drawn = pick(two, Sampling(temperature=1.0, top_p=0.6), g)
    assert set(drawn.tolist()) == {0, 1}


class IdsAsText:
    """The tiny model's byte tokenizer, but ``decode`` writes the ids themselves ("12 7 255"), so
    a generated text names its tokens exactly (bytes past ASCII would all decode to U+FFFD)."""

    def __init__(self, tok):
        self.tok = tok

    def __getattr__(self, name):
        return getattr(self.tok, name)

    def __call__(self, text, **kwargs):
        return self.tok(text, **kwargs)

    def decode(self, ids, skip_special_tokens=False):
        return " ".join(str(int(i)) for i in ids)


TINY_PROMPTS = ["a", "hello there", "The quick brown fox jumps over the lazy dog.", "1, 2, 3,"]


@pytest.mark.parametrize("batch_size", [4, 3])
def test_batched_greedy_ids_equal_transformers_generate_on_tiny_llama(tiny, batch_size):
    model, tok = tiny
    ids_tok = IdsAsText(tok)
    lengths = [len(tok(p).input_ids) for p in TINY_PROMPTS]
    assert len(set(lengths)) == len(lengths) and max(lengths) >= 4 * min(lengths)
    out = generate(model, ids_tok, TINY_PROMPTS, max_new_tokens=12, batch_size=batch_size)
    ends = {tok.eos_token_id, model.generation_config.eos_token_id}
    for prompt, text, count in zip(TINY_PROMPTS, out.texts, out.new_tokens, strict=True):
        enc = tok(prompt, return_tensors="pt")
        ref = model.generate(**enc, max_new_tokens=12, do_sample=False)[0, enc.input_ids.shape[1] :]
        ref = ref.tolist()
        cut = next((i for i, t in enumerate(ref) if t in ends), len(ref))
        assert text == " ".join(str(t) for t in ref[:cut])
        assert count == cut


class CacheOnly:
    """A forward pre/post hook pair that records each call's keyword names and hands the loop an
    output holding only ``logits`` and ``cache``."""

    def __init__(self, model):
        self.keywords: list[set[str]] = []
        self.handles = [
            model.register_forward_pre_hook(self.pre, with_kwargs=True),
            model.register_forward_hook(self.post),
        ]

    def pre(self, module, args, kwargs):
        self.keywords.append(set(kwargs))

    def post(self, module, args, output):
        return SimpleNamespace(logits=output.logits, cache=output.cache)

    def remove(self):
        for handle in self.handles:
            handle.remove()


def test_the_loop_passes_and_reads_the_cache_by_its_current_name(tiny):
    model, tok = tiny
    spy = CacheOnly(model)
    try:
        out = generate(model, tok, TINY_PROMPTS[:2], max_new_tokens=4, batch_size=2)
    finally:
        spy.remove()
    assert out.new_tokens == [4, 4]
    assert len(spy.keywords) == 5  # the prompt pass, then one step per new token
    assert all("past_key_values" not in k for k in spy.keywords)
    assert "cache" not in spy.keywords[0] and all("cache" in k for k in spy.keywords[1:])


def test_the_loop_raises_no_deprecation_warning(tiny):
    model, tok = tiny
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        generate(model, tok, TINY_PROMPTS, max_new_tokens=4, batch_size=3)
        generate(model, tok, TINY_PROMPTS[:2], 4, sampling=Sampling(temperature=1.0, seed=1))
    deprecations = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
    found = [
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if issubclass(w.category, deprecations)
    ]
    assert found == []


SETTINGS = [
    Sampling(temperature=0.1, top_k=40, top_p=0.95, seed=42),  # LoftQ's/ApiQ's test_gsm8k.py
    Sampling(temperature=1.3, top_k=20, top_p=0.8, seed=5),
    Sampling(temperature=0.7, top_p=0.5, seed=1),
    Sampling(temperature=2.0, top_k=3, seed=2),
]


@pytest.mark.parametrize("sampling", SETTINGS)
def test_warp_equals_transformers_logits_warpers(sampling):
    from transformers import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    warpers = [TemperatureLogitsWarper(sampling.temperature)]
    if sampling.top_k:
        warpers.append(TopKLogitsWarper(sampling.top_k))
    if sampling.top_p < 1:
        warpers.append(TopPLogitsWarper(sampling.top_p))
    logits = torch.randn(32, 259, generator=torch.Generator().manual_seed(7)) * 3
    ours = warp(logits, sampling)
    ref = LogitsProcessorList(warpers)(None, logits.clone())
    assert torch.equal(ours, ref)
    assert ((ours > float("-inf")).sum(-1) < 259).all()  # something was really cut


def plain_scores(logits: list[float], sampling: Sampling) -> list[float]:
    """Temperature, then top-k (drop what is below the k-th largest), then top-p (drop, from the
    least probable up, tokens while the mass so far is at most 1 - p, keeping the most
    probable), written out with Python lists."""
    import math

    scores = [x / sampling.temperature for x in logits]
    if sampling.top_k:
        kth = sorted(scores, reverse=True)[sampling.top_k - 1]
        scores = [x if x >= kth else -math.inf for x in scores]
    if sampling.top_p < 1:
        top = max(scores)
        weights = [math.exp(x - top) for x in scores]
        total = sum(weights)
        mass = 0.0
        order = sorted(range(len(scores)), key=lambda i: scores[i])
        for i in order[:-1]:
            mass += weights[i] / total
            if mass > 1 - sampling.top_p:
                break
            scores[i] = -math.inf
    return scores


def plain_sample(model, tok, prompts, n_new, sampling):
    """Sampling without batching tricks: each row's whole sequence through the model at every
    step (no cache, no padding), one draw per row from one torch generator seeded alike."""
    gen = torch.Generator().manual_seed(sampling.seed)
    seqs = [tok(p).input_ids for p in prompts]
    out = [[] for _ in prompts]
    with torch.inference_mode():
        for _ in range(n_new):
            rows = []
            for seq in seqs:
                last = model(input_ids=torch.tensor([seq])).logits[0, -1].float().tolist()
                rows.append(torch.tensor(plain_scores(last, sampling)).softmax(-1))
            drawn = torch.multinomial(torch.stack(rows), 1, generator=gen)[:, 0].tolist()
            for r, t in enumerate(drawn):
                seqs[r].append(t)
                out[r].append(t)
    return out


@pytest.mark.parametrize("sampling", SETTINGS[:2])
def test_sampled_tokens_equal_a_plain_sampler(tiny, sampling):
    model, tok = tiny
    prompts = ["The quick brown fox", "1, 2,", "hello there, my friend"]
    out = generate(
        model, tok, prompts, 10, batch_size=3, sampling=sampling, order="given", eos=set()
    )
    assert out.ids == plain_sample(model, tok, prompts, 10, sampling)
    assert len({tuple(ids) for ids in out.ids}) == 3


def test_given_order_keeps_the_batches_as_listed(tiny):
    """Sorted by length, the long prompt shares a batch with another one; in the given order
    the draws of the first batch are those of the first two prompts alone."""
    model, tok = tiny
    prompts = ["ab", "cd", "a much longer prompt than the others"]
    hot = Sampling(temperature=1.5, seed=3)
    given = generate(model, tok, prompts, 8, batch_size=2, sampling=hot, order="given", eos=set())
    alone = generate(model, tok, prompts[:2], 8, batch_size=2, sampling=hot, eos=set())
    assert given.ids[:2] == alone.ids
    with pytest.raises(ValueError, match="allowed: length, given"):
        generate(model, tok, prompts, 2, order="random")


def test_no_pass_of_the_loop_computes_logits_beyond_the_last_position(tiny):
    """The prompts' pass asks for the last position's logits only (the loop reads no other);
    the tokens are those of the full-logits path (the batched-greedy tests above)."""
    model, tok = tiny
    widths = []
    forward = model.forward

    @functools.wraps(forward)  # keeps the signature that the loop inspects
    def spy(*args, **kwargs):
        out = forward(*args, **kwargs)
        widths.append((kwargs["input_ids"].shape[1], out.logits.shape[1]))
        return out

    model.forward = spy
    try:
        generate(model, tok, PROMPTS[:3], max_new_tokens=3, batch_size=3, decoder="dynamic")
    finally:
        del model.forward
    assert widths[0][0] > 1 and all(logits == 1 for _, logits in widths), widths
