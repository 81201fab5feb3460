"""The benchmark's generation part: qbench's evaluation decoder against ``transformers``' generate.

For each configuration (``lora16``, ``nf4``, ``int2`` by default; see
:mod:`suite.bench.workloads`) the model is built and prepared as the train part does it, then
for each batch size one batch of GSM8K-like prompts (seeded random token ids, lengths drawn
uniformly from ``prompt_min`` to ``prompt_max``, so the rows are left-padded) is continued by
exactly ``new`` greedy tokens on three paths, in one process:

- ``generate``: ``model.generate`` (dynamic cache, ``min_new_tokens`` = ``max_new_tokens``).
- ``ours``: :func:`tasks.generation.generate_encoded` with ``decoder="auto"`` (static cache,
  CUDA graphs) inside :func:`suite.quant.eval_bases.evaluation_bases`, the harness's own
  evaluation block (packed bases as dense bf16 copies where they fit).
- ``ours packed`` (packed configurations): the same with the dense copies refused, so the graphs
  replay the packed kernels, each layout on the faster of fused and dequantize-then-GEMM as
  measured at the batch's row count.

Timing: every path first runs once in full, untimed (kernels compiled, allocator grown, dense
copies made); then ``repeats`` timed calls, the median kept. Ours captures its CUDA graphs in
every call, so capture is inside its time, as in an evaluation. tok/s = rows x ``new`` / seconds,
the prompts' pass included. The bound is the weight-bandwidth bound: each decoding step must
read every weight once (the base as stored, LoRA factors in bf16, the LM head and norms; not the
embedding table, of which a step reads one row per token), so at most ``rows x copy GB/s /
step bytes`` tokens per second; ``of bound`` is the measured rate over it. ``step ms`` is ours'
time per decoding step (the call's time less that of a call making one token, i.e. the prompts'
pass, over ``new - 1`` steps; graph capture included) against ``bound step ms``, the step bytes
at the copy bandwidth. ``same rows`` is the fraction of rows whose tokens all equal
``generate``'s, ``same prefix`` the mean share of each row's tokens before the first difference
(the attention kernels differ, and on a random-weight model in bf16 a near-tie soon turns one
token and the rest of the row with it). It runs on a GPU (``qbench bench --parts generation``)::

    rows = generation_rows("synthetic:llama2-7b", ["lora16"], [8, 64], 128, cache, 4300.0)
"""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path
from typing import Any

import torch

GEN_CONFIGS = ("lora16", "nf4", "int2")


class IdsText:
    """A stand-in tokenizer for synthetic ids: ``decode`` writes the ids as text (work of a real
    decode's order), pad id 0, no end-of-sequence token."""

    pad_token_id = 0
    eos_token_id = None

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return " ".join(str(int(i)) for i in ids)


def gsm8k_like_prompts(vocab: int, n: int, low: int, high: int, seed: int = 0) -> list[list[int]]:
    """``n`` prompts of seeded random ids, lengths uniform in [low, high]."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(low, high + 1, (n,), generator=gen).tolist()
    return [torch.randint(3, vocab, (k,), generator=gen).tolist() for k in lengths]


def step_bytes(model: torch.nn.Module) -> int:
    """Bytes a decoding step must read at least: every parameter and buffer once (LoRA factors
    counted in bf16), the input embedding table left out."""
    from suite.quant.qlinear import QLinear

    skip = {id(p) for p in model.get_input_embeddings().parameters()}
    lora = set()
    for m in model.modules():
        if isinstance(m, QLinear):
            lora.update((id(m.lora_A), id(m.lora_B)))
    total, seen = 0, set()
    for t in [*model.parameters(), *model.buffers()]:
        if id(t) in skip or t.data_ptr() in seen:
            continue
        seen.add(t.data_ptr())
        total += t.numel() * (2 if id(t) in lora else t.element_size())
    return total


def _timed(fn, repeats: int) -> tuple[float, Any]:
    fn()  # the full untimed run
    times, out = [], None
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _reference(model, prompts: list[list[int]], new: int, repeats: int):
    from suite.bench.workloads import greedy_generate
    from tasks.generation import left_padded

    device = next(model.parameters()).device
    ids, mask, _ = left_padded(prompts, 0, device)

    def run():
        return greedy_generate(model, ids, mask, new)[:, ids.shape[1] :].tolist()

    return _timed(run, repeats)


def _ours(model, prompts: list[list[int]], new: int, repeats: int, share: float):
    """(seconds of the call, seconds of a one-token call, ids, mode of the bases)."""
    from suite.quant.eval_bases import evaluation_bases
    from tasks.generation import StopRule, generate_encoded

    rows = len(prompts)
    with evaluation_bases(model, rows, share) as mode:

        def run(count: int):
            return generate_encoded(
                model, IdsText(), prompts, count, rows, StopRule(), None, None, "given", set()
            ).ids

        seconds, ids = _timed(lambda: run(new), repeats)
        prompt_s, _ = _timed(lambda: run(1), repeats)
    return seconds, prompt_s, ids, mode


def _agreement(ours: list[list[int]], ref: list[list[int]]) -> tuple[float, float]:
    """(share of rows equal throughout, mean share of each row before its first difference)."""
    prefixes = []
    for a, b in zip(ours, ref, strict=True):
        pairs = zip(a, b, strict=False)
        same = next((i for i, (x, y) in enumerate(pairs) if x != y), min(len(a), len(b)))
        prefixes.append(same / max(len(b), 1))
    whole = sum(a == b for a, b in zip(ours, ref, strict=True)) / len(ref)
    return whole, sum(prefixes) / len(prefixes)


def config_rows(
    model, config: str, batches: list[int], prompts: list[list[int]], new: int, copy_gbps: float,
    repeats: int = 1,
) -> list[dict[str, Any]]:  # fmt: skip
    """The rows of one prepared model: per batch size, each path's rate and its ratios."""
    from suite.quant.eval_bases import dense_base_bytes

    bytes_per_step = step_bytes(model)
    packed = dense_base_bytes(model) > 0
    rows = []
    for batch in batches:
        chunk = prompts[:batch]
        tokens = batch * new
        ref_s, ref_ids = _reference(model, chunk, new, repeats)
        paths = [("ours", 0.5)] + ([("ours packed", 0.0)] if packed else [])
        bound = batch * copy_gbps * 1e9 / bytes_per_step
        for name, share in paths:
            seconds, prompt_s, ids, mode = _ours(model, chunk, new, repeats, share)
            whole, prefix = _agreement(ids, ref_ids)
            rows.append(
                {
                    "config": config,
                    "batch": batch,
                    "path": f"{name} ({mode} bases)",
                    "tokens_per_s": tokens / seconds,
                    "generate_tokens_per_s": tokens / ref_s,
                    "vs_generate": ref_s / seconds,
                    "bound_tokens_per_s": bound,
                    "of_bound": tokens / seconds / bound,
                    "generate_of_bound": tokens / ref_s / bound,
                    "step_ms": 1e3 * (seconds - prompt_s) / max(new - 1, 1),
                    "bound_step_ms": 1e3 * bytes_per_step / (copy_gbps * 1e9),
                    "prompt_s": prompt_s,
                    "same_rows": whole,
                    "same_prefix": prefix,
                    "step_bytes": bytes_per_step,
                    "new_tokens": new,
                    "prompt_tokens": [len(p) for p in chunk],
                }
            )
            print(f"  {config} batch {batch} {rows[-1]['path']}: {rows[-1]['tokens_per_s']:,.0f}"
                  f" tok/s, generate {tokens / ref_s:,.0f}, x{ref_s / seconds:.2f}, "
                  f"{100 * rows[-1]['of_bound']:.0f}% of bound", flush=True)  # fmt: skip
    return rows


def generation_rows(
    model_name: str,
    configs: list[str],
    batches: list[int],
    new: int,
    cache: Path,
    copy_gbps: float,
    prompt_range: tuple[int, int] = (100, 128),
    rank: int = 64,
    repeats: int = 1,
    device: str = "cuda",
) -> list[dict[str, Any]]:
    """Every configuration's rows (see the module doc); a failing one gives an error row."""
    from suite import models
    from suite.bench.workloads import method_for

    ref = models.resolve(model_name)
    vocab = models.SYNTHETIC[ref.location]["vocab_size"]
    prompts = gsm8k_like_prompts(vocab, max(batches), *prompt_range)
    out: list[dict[str, Any]] = []
    for config in configs:
        try:
            method, budget = method_for(config, rank)
            model, _ = models.load(ref, cache, device, torch.bfloat16, say=lambda *_: None)
            prepared = method.prepare(model, budget, None, seed=0).model.eval()
            out.extend(config_rows(prepared, config, batches, prompts, new, copy_gbps, repeats))
            del prepared, model
        except Exception as err:  # one failing configuration must not lose the others
            out.append({"config": config, "error": f"{type(err).__name__}: {err}"})
        gc.collect()
        torch.cuda.empty_cache()
    return out
