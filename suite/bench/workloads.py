"""One benchmark configuration at scale: build, prepare, train and generate, each measured.

A configuration names a method and its base storage:

- ``lora16``: bf16 base, LoRA (the full-precision reference).
- ``bnb-nf4``: QLoRA on bitsandbytes' Linear4bit (NF4, block 64), the community's kernels.
- ``nf2`` / ``nf3`` / ``nf4``: QLoRA with qbench's packed NF-k base (:class:`QLinear`).
- ``int2`` / ``int3`` / ``int4``: packed INT-k asymmetric base (round to nearest), the storage
  that GPTQ, CLoQ and GPTQ-LoRA produce (the kernels' speed does not depend on the values).

Training runs :func:`suite.train.train` (bf16 autocast, AdamW on A and B) on seeded random
windows; tokens/s is the step's tokens over the *median* step time after ``warmup`` steps (the
harness's mean rate is kept as ``train_tokens_per_s_mean``), peak memory is the train phase's
``max_memory_allocated`` (weights included). MFU divides the model FLOPs actually needed per
token by the GPU's measured bf16 matmul rate: the frozen base costs 2 FLOPs per weight forward
and 2 backward (input gradient only), LoRA 6·r·(in + out) per layer, the frozen LM head 4·V·d,
causal attention 6·s·d per layer (half of the full s² products, forward + 2× backward).
Generation is ``model.generate`` (greedy, KV cache) on a batch of random prompts, exactly
``new_tokens`` new tokens each, timed after a full-length warm-up call; tokens/s counts new
tokens. The generation part (:mod:`suite.bench.generation`) compares it with qbench's own
evaluation decoder.

The benchmark measures each configuration on the GPU at a 7B shape, given the measured matmul
rate (:func:`suite.bench.rates.matmul_tflops`). The same call runs a small shape on the CPU:

    >>> from suite.bench.workloads import BenchShape, run_config
    >>> shape = BenchShape(
    ...     rank=8, batch=2, seq_len=32, steps=2, warmup=1, gen_batch=2, gen_prompt=8, gen_new=4
    ... )
    >>> row = run_config("nf4", "synthetic:tiny", shape, "cpu", cache=None, matmul_tflops=1.0)
    >>> row["storage"], round(row["effective_bits"], 2), row["flops_per_token"]  # NF4 with DQ
    ('packed', 4.13, 1558016)
    >>> sorted(key for key in row if key.endswith("tokens_per_s"))
    ['decode_tokens_per_s', 'gen_tokens_per_s', 'train_tokens_per_s']
"""

from __future__ import annotations

import gc
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

CONFIGS = ("lora16", "bnb-nf4", "nf4", "int4", "nf3", "int3", "nf2", "int2")


@dataclass(frozen=True)
class BenchShape:
    """The workload: LoRA rank, training batch and length, generation batch and lengths."""

    rank: int = 64
    batch: int = 8
    seq_len: int = 512
    steps: int = 6
    warmup: int = 2
    gen_batch: int = 8
    gen_prompt: int = 128
    gen_new: int = 64


def method_for(config: str, rank: int):
    """(method, budget) for a configuration name; ValueError names the allowed ones."""
    from methods.lora16 import LoRA16
    from methods.qlora import QLoRA
    from suite.spec import Budget

    if config == "lora16":
        return LoRA16(), Budget(bits=16, rank=rank)
    if config == "bnb-nf4":
        return QLoRA.from_overrides({"backend": "bnb"}), Budget(bits=4, rank=rank)
    match = re.fullmatch(r"(nf|int)([234])", config)
    if match:
        return QLoRA(), Budget(bits=int(match[2]), rank=rank, quantizer=match[1])
    raise ValueError(f"unknown configuration {config!r}; allowed: {', '.join(CONFIGS)}")


def flops_per_token(cfg: dict, rank: int, seq_len: int) -> float:
    """Model FLOPs per trained token for LoRA on a frozen base (see the module docs)."""
    d, ff, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    head_dim = d // heads
    shapes = [(d, heads * head_dim), (d, kv * head_dim), (d, kv * head_dim), (heads * head_dim, d)]
    shapes += [(d, ff), (d, ff), (ff, d)]
    base = sum(i * o for i, o in shapes)
    lora = sum(i + o for i, o in shapes) * rank
    per_layer = 4 * base + 6 * lora + 6 * seq_len * d
    return layers * per_layer + 4 * cfg["vocab_size"] * d


def resident_bytes(model: torch.nn.Module) -> int:
    """Bytes of every parameter and buffer the model holds (what sits in GPU memory)."""
    seen, total = set(), 0
    for t in [*model.parameters(), *model.buffers()]:
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total


def _examples(vocab: int, shape: BenchShape) -> list[dict]:
    from tasks.base import synthetic_ids

    n = shape.batch * (shape.steps + 1)
    ids = synthetic_ids(vocab, "train", n * shape.seq_len).view(n, shape.seq_len)
    return [{"input_ids": row, "labels": row} for row in ids]


def greedy_generate(model, ids, mask, new: int):
    """transformers' ``generate``, greedy, exactly ``new`` tokens per row (pad id 0): the
    reference the bench times qbench's decoding against."""
    with torch.inference_mode():
        return model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=new,
            min_new_tokens=new,
            do_sample=False,
            pad_token_id=0,
        )


def generate_rate(model, vocab: int, shape: BenchShape, device: str) -> dict[str, float]:
    """New tokens per second of greedy generation with the KV cache, timed after a full-length
    warm-up call (a first long call runs several times slower: allocator growth, first
    launches of each kernel shape)."""
    from suite.measure import sync
    from tasks.base import synthetic_ids

    n = shape.gen_batch * shape.gen_prompt
    ids = synthetic_ids(vocab, "test", n).view(shape.gen_batch, shape.gen_prompt).to(device)
    mask = torch.ones_like(ids)
    model.eval()

    def gen(new: int) -> float:
        sync(device)
        t0 = time.perf_counter()
        out = greedy_generate(model, ids, mask, new)
        sync(device)
        assert out.shape[1] == shape.gen_prompt + new
        return time.perf_counter() - t0

    gen(shape.gen_new)  # compile kernels, grow the allocator to the full length
    prefill_s = gen(1)
    total_s = gen(shape.gen_new)
    decode = (shape.gen_new - 1) * shape.gen_batch / max(total_s - prefill_s, 1e-9)
    return {
        "gen_tokens_per_s": shape.gen_new * shape.gen_batch / total_s,
        "decode_tokens_per_s": decode,
        "prefill_s": prefill_s,
    }


def run_config(
    config: str,
    model_name: str,
    shape: BenchShape,
    device: str,
    cache: Path,
    matmul_tflops: float,
    generate: bool = True,
    profile: Any = None,
) -> dict[str, Any]:
    """Build, prepare, train and generate one configuration; the measured numbers as a dict."""
    from suite import models
    from suite.measure import Phase
    from suite.spec import TrainSpec
    from suite.train import train

    method, budget = method_for(config, shape.rank)
    ref = models.resolve(model_name)
    torch.cuda.empty_cache()
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    with Phase("load", device) as load:
        model, _ = models.load(ref, cache, device, dtype, say=lambda *_: None)
    with Phase("prepare", device) as prep:
        prepared = method.prepare(model, budget, None, seed=0)
    layers = prepared.layers().values()
    base_bytes = sum(layer.base_bytes() for layer in layers)
    accounted = sum(layer.accounted_bytes() for layer in layers)  # suite.budget's accounting
    numel = sum(layer.in_features * layer.out_features for layer in layers)
    cfg = models.SYNTHETIC[ref.location]
    spec = TrainSpec(
        steps=shape.warmup + shape.steps,
        batch_size=shape.batch,
        seq_len=shape.seq_len,
        lr=1e-4,
        warmup_ratio=0.0,
        warmup_steps_for_speed=shape.warmup,
        lora_dropout=method.native_dropout(budget.bits),
    )
    examples = _examples(cfg["vocab_size"], shape)
    marks: list[float] = []

    def tick(*_, **__) -> None:  # called after each (device-synchronised) optimizer step
        marks.append(time.perf_counter())

    with Phase("train", device) as tr:
        result = train(prepared.model, examples, spec, device, seed=0, progress=tick)
    step_s = [marks[i + 1] - marks[i] for i in range(shape.warmup, len(marks) - 1)]
    tokens_per_step = shape.batch * shape.seq_len
    median_rate = tokens_per_step / statistics.median(step_s) if step_s else result.tokens_per_s
    flops = flops_per_token(cfg, shape.rank, shape.seq_len)
    row: dict[str, Any] = {
        "config": config,
        "model": model_name,
        "storage": prepared.storage,
        "effective_bits": 8.0 * accounted / numel,
        "base_bytes": base_bytes,
        "resident_bytes": resident_bytes(prepared.model),
        "load_s": load.wall_s,
        "prepare_s": prep.wall_s,
        "prepare_peak_bytes": prep.peak_bytes,
        "train_tokens_per_s": median_rate,
        "train_tokens_per_s_mean": result.tokens_per_s,
        "train_step_s": step_s,
        "train_peak_bytes": tr.peak_bytes,
        "train_loss_last": result.losses[-1][1],
        "flops_per_token": flops,
        "mfu": median_rate * flops / (matmul_tflops * 1e12),
    }
    if profile is not None:
        profile(config, prepared.model, examples, spec)
    if generate:
        with Phase("eval", device) as ev:
            row.update(generate_rate(prepared.model, cfg["vocab_size"], shape, device))
        row["gen_peak_bytes"] = ev.peak_bytes
        packed = [m for m in prepared.layers().values() if m.packed_args() is not None]
        if packed and device.startswith("cuda"):  # the same, all through the dense path
            for layer in packed:
                layer.kernel_policy = "dequant"
            dense = generate_rate(prepared.model, cfg["vocab_size"], shape, device)
            row["gen_dense_path_tokens_per_s"] = dense["gen_tokens_per_s"]
            row["decode_dense_path_tokens_per_s"] = dense["decode_tokens_per_s"]
    del prepared, model, examples
    gc.collect()
    torch.cuda.empty_cache()
    return row


def profile_steps(out: Path, steps: int = 2):
    """A callback that profiles ``steps`` training steps and appends the op table to ``out``."""

    def run(config: str, model, examples, spec) -> None:
        from torch.profiler import ProfilerActivity, profile

        from suite.train import collate

        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-5)
        device = next(model.parameters()).device
        batch = {k: v.to(device) for k, v in collate(examples[: spec.batch_size], 0).items()}
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(steps):
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = model(**batch).loss
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize(device)
        averages = prof.key_averages()
        try:
            table = averages.table(sort_by="device_time_total", row_limit=25)
        except (AttributeError, KeyError):
            table = averages.table(sort_by="cuda_time_total", row_limit=25)
        with out.open("a") as fh:
            fh.write(f"\n=== {config}: {steps} training steps, sorted by CUDA time ===\n{table}\n")

    return run


def merge_rounds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from repeated runs of a configuration: the first run's numbers, with training
    tokens/s (and MFU) replaced by the median over the runs; every run's rate is kept."""
    ok = [r for r in runs if "train_tokens_per_s" in r]
    if not ok:
        return runs[0]
    row = dict(ok[0])
    rates = [r["train_tokens_per_s"] for r in ok]
    row["train_tokens_per_s"] = statistics.median(rates)
    row["train_tokens_per_s_runs"] = rates
    row["mfu"] = row["mfu"] * row["train_tokens_per_s"] / ok[0]["train_tokens_per_s"]
    row["train_peak_bytes"] = max(r["train_peak_bytes"] for r in ok)
    return row
