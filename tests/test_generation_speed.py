"""Benchmark: batched generation against one prompt at a time, on the same GSM8K sample items.

Run with ``pytest -m benchmark tests/test_generation_speed.py -s``; it prints the two timings and
their ratio, recorded as a property (the outputs must be identical; the speed is reported,
never asserted). On a CPU the prompts'
forward passes cost the same either way and only the decoding steps gain from batching, so the
ratio there is modest; it grows with the number of new tokens and on a GPU.
"""

import time

import pytest
import torch

from tasks.base import parse_source
from tasks.generation import generate
from tasks.gsm8k import prompt, read_items

pytestmark = [pytest.mark.benchmark, pytest.mark.slow]


def test_batched_generation_equals_one_at_a_time_and_records_its_speed(smollm2, record_property):
    model, tok = smollm2
    items = read_items(parse_source("sample"), "test", 16)
    prompts = [prompt(it["question"]) for it in items]
    timings = {}
    outputs = {}
    for batch_size in (8, 1):
        generate(model, tok, prompts[:2], 2, batch_size)  # warm-up
        start = time.perf_counter()
        out = generate(model, tok, prompts, 48, batch_size)
        timings[batch_size] = time.perf_counter() - start
        outputs[batch_size] = out
    tokens = sum(outputs[8].new_tokens)
    ratio = timings[1] / timings[8]
    print(
        f"\n{len(prompts)} prompts, {tokens} new tokens, {torch.get_num_threads()} threads: "
        f"batch 8 {timings[8]:.1f} s ({tokens / timings[8]:.1f} new tok/s), "
        f"batch 1 {timings[1]:.1f} s ({tokens / timings[1]:.1f} new tok/s), ratio {ratio:.2f}"
    )
    record_property("batched_speedup", ratio)
    assert outputs[8].texts == outputs[1].texts
