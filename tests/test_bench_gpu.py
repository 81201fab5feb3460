"""GPU benchmarks (pytest-benchmark): packed kernels and training steps at 7B layer widths.

Claims checked, each against a reference timed in the same process: the fused kernel beats the
transient-dense path when decoding (16 rows); the dequantize kernel runs near the copy bandwidth;
a training step on packed 2-bit is no slower than on bitsandbytes NF4 and needs less memory.
Run with ``pytest -m "gpu and benchmark" tests/test_bench_gpu.py``.
"""

from __future__ import annotations

import gc

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.benchmark,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _median_ms(fn) -> float:
    from triton.testing import do_bench

    return float(do_bench(fn, warmup=25, rep=100, return_mode="median"))


@pytest.fixture(scope="module")
def nf4_layer():
    from suite.bench.rates import _packed_layer

    return _packed_layer("nf", 4, (11008, 4096), "cuda").packed_args()


def _sync(fn):
    def run():
        fn()
        torch.cuda.synchronize()

    return run


def test_fused_decode_beats_transient_dense(benchmark, nf4_layer) -> None:
    from suite.quant import kernels as kn

    p = nf4_layer
    args = (p.codes, p.scales, p.zeros, p.codebook, p.shape, p.bits, p.group_size)
    x = torch.randn(16, 4096, device="cuda", dtype=torch.bfloat16)
    benchmark(_sync(lambda: kn.fused_forward(x, *args)))
    fused = _median_ms(lambda: kn.fused_forward(x, *args))
    dense = _median_ms(lambda: x @ kn.dequantize_packed(*args[:4], *args[4:], torch.bfloat16).t())
    assert fused < dense


def test_dequantize_runs_near_copy_bandwidth(benchmark, nf4_layer) -> None:
    from suite.bench.rates import copy_gbps
    from suite.quant import kernels as kn

    p = nf4_layer
    args = (p.codes, p.scales, p.zeros, p.codebook, p.shape, p.bits, p.group_size)
    benchmark(_sync(lambda: kn.dequantize_packed(*args, torch.bfloat16)))
    ms = _median_ms(lambda: kn.dequantize_packed(*args, torch.bfloat16))
    moved = p.codes.numel() + p.scales.numel() * 4 + 11008 * 4096 * 2
    assert moved / (ms * 1e-3) / 1e9 > 0.5 * copy_gbps("cuda", 1 << 30)


def _two_block_model(config: str):
    """A 2-block Llama at 7B widths, prepared as ``config`` (bf16, on the GPU)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from suite.bench.workloads import method_for
    from suite.models import SYNTHETIC

    shape = {**SYNTHETIC["llama2-7b"], "num_hidden_layers": 2}
    with torch.device("cuda"):
        torch.manual_seed(0)
        model = LlamaForCausalLM._from_config(LlamaConfig(**shape), dtype=torch.bfloat16)
    method, budget = method_for(config, 64)
    return method.prepare(model, budget, None, seed=0).model


def _step_and_peak(config: str, benchmark=None) -> tuple[float, int]:
    """Median ms of a forward + backward step, and its peak memory above what was there before."""
    gc.collect()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    model = _two_block_model(config)
    ids = torch.randint(0, 32000, (8, 512), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()

    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    if benchmark is not None:
        benchmark.pedantic(_sync(step), rounds=5, warmup_rounds=1)
    ms = _median_ms(step)
    return ms, torch.cuda.max_memory_allocated() - before


def test_packed_2bit_training_step_vs_bnb_nf4(benchmark) -> None:
    pytest.importorskip("bitsandbytes")
    ms_int2, peak_int2 = _step_and_peak("int2", benchmark)
    ms_bnb, peak_bnb = _step_and_peak("bnb-nf4")
    assert ms_int2 <= 1.02 * ms_bnb
    assert peak_int2 < peak_bnb
