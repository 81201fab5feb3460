"""Batched generation: left padding and the KV cache change nothing; stops and sampling hold."""

import pytest
import torch

from tasks.generation import Sampling, StopRule, generate, pick

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
