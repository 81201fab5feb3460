"""Beam search (tasks/beam.py) gives transformers' beam search tokens: LLM-Adapters' settings on
the tiny Llama, prompts batched and left-padded here, one at a time in transformers."""

import pytest
import torch
from transformers import GenerationConfig

from tasks.beam import beam_search

PROMPTS = [
    "a",
    "hello there",
    "The quick brown fox jumps over the lazy dog.",
    "1, 2, 3,",
    "Below is an instruction",
    "Q: what?\nA:",
]

pytestmark = pytest.mark.usefixtures("one_thread")


def reference(model, tok, prompt, max_new, beams, ends):
    """transformers' generate with commonsense_evaluate.py's GenerationConfig (do_sample off)."""
    config = GenerationConfig(
        temperature=0.1,
        top_p=0.75,
        top_k=40,
        num_beams=beams,
        max_new_tokens=max_new,
        eos_token_id=sorted(ends),
        pad_token_id=tok.pad_token_id,
    )
    enc = tok(prompt, return_tensors="pt")
    out = model.generate(**enc, generation_config=config)
    return out[0, enc.input_ids.shape[1] :].tolist()


def check(model, tok, ends, max_new, beams, batch_size):
    out = beam_search(model, tok, PROMPTS, max_new, beams, batch_size, eos=ends)
    for prompt, ids, why in zip(PROMPTS, out.ids, out.stopped_by, strict=True):
        ref = reference(model, tok, prompt, max_new, beams, ends)
        if why == "eos":  # transformers keeps the EOS token of a finished hypothesis
            assert ref[:-1] == ids and ref[-1] in ends, prompt
        else:
            assert ref == ids and len(ids) == max_new, prompt
    return out


@pytest.mark.parametrize("beams", [4, 2])
def test_beam_search_equals_transformers_generate(tiny, beams):
    model, tok = tiny
    natural = {tok.eos_token_id, model.generation_config.eos_token_id}
    free = check(model, tok, natural, 12, beams, batch_size=4)
    # end ids the model does produce, so hypotheses finish early and compete with running ones
    stops = []
    for ends in ({free.ids[0][2]}, {free.ids[1][1], free.ids[3][4]}, set(free.ids[2][:3])):
        stops += check(model, tok, ends, 12, beams, batch_size=3).stopped_by
    assert "eos" in stops and "length" in stops


def test_beam_search_ignores_batching_and_decodes_its_ids(tiny):
    model, tok = tiny
    one = beam_search(model, tok, PROMPTS, 8, 4, batch_size=1)
    many = beam_search(model, tok, PROMPTS, 8, 4, batch_size=6)
    assert one.ids == many.ids
    assert many.texts == [tok.decode(ids, skip_special_tokens=True) for ids in many.ids]
    assert many.new_tokens == [len(ids) for ids in many.ids]
    assert many.prompt_tokens == [len(tok(p).input_ids) for p in PROMPTS]


def test_bad_settings_are_refused(tiny):
    with pytest.raises(ValueError, match="allowed: both >= 1"):
        beam_search(*tiny, ["a"], max_new_tokens=4, num_beams=0)
    assert torch.is_grad_enabled()
