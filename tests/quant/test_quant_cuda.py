"""The quantizers run unchanged on CUDA tensors and agree with the CPU results."""

from __future__ import annotations

import pytest
import torch
from conftest import correlated_inputs, out_err

from suite.quant.gptq import run_gptq
from suite.quant.magr import magr
from suite.quant.nf import quantize_nf
from suite.quant.packing import pack, unpack
from suite.quant.qtensor import QTensor, dequantize
from suite.quant.uniform import quantize_int

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _w(shape=(96, 256), seed=0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_packing_matches_cpu(bits: int) -> None:
    codes = torch.randint(0, 1 << bits, (1001,), dtype=torch.uint8)
    packed = pack(codes.cuda(), bits)
    assert packed.is_cuda and torch.equal(packed.cpu(), pack(codes, bits))
    assert torch.equal(unpack(packed, bits, 1001).cpu(), codes)


@pytest.mark.parametrize(("fn", "bits"), [(quantize_nf, 2), (quantize_nf, 4), (quantize_int, 3)])
def test_round_to_nearest_matches_cpu_exactly(fn, bits) -> None:
    w = _w()
    cpu, gpu = fn(w, bits, 64), fn(w.cuda(), bits, 64)
    assert gpu.codes.is_cuda
    assert torch.equal(gpu.codes.cpu(), cpu.codes) and torch.equal(gpu.scales.cpu(), cpu.scales)
    assert torch.equal(dequantize(gpu).cpu(), dequantize(cpu))
    back = QTensor.from_state(gpu.meta(), gpu.state_dict()).to("cpu")
    assert torch.equal(dequantize(back), dequantize(cpu))


@pytest.mark.parametrize("scheme", ["int", "nf"])
@pytest.mark.parametrize("act_order", [False, True])
def test_gptq_on_cuda(scheme: str, act_order: bool) -> None:
    x = correlated_inputs(2048, 256, 64, seed=0)
    w, h = _w(), x.T @ x
    cpu = run_gptq(w, h, 3, 64, act_order=act_order, scheme=scheme)
    gpu = run_gptq(w.cuda(), h.cuda(), 3, 64, act_order=act_order, scheme=scheme)
    assert gpu.weight.is_cuda and torch.equal(gpu.weight, dequantize(gpu.qtensor))
    e_cpu, e_gpu = out_err(x, w, cpu.weight), out_err(x, w, gpu.weight.cpu())
    assert abs(e_gpu - e_cpu) < 0.02 * e_cpu


def test_magr_on_cuda() -> None:
    x = correlated_inputs(2048, 256, 32, seed=1)
    w, h = _w(seed=2) * 0.02, x.T @ x
    gpu = magr(w.cuda(), h.cuda(), iters=50)
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), magr(w, h, iters=50), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("scheme", ["int", "nf"])
def test_gptq_graphed_blocks_equal_the_eager_loop(scheme: str) -> None:
    """Aligned groups on CUDA replay a captured graph per block; a clip of 1.0 (no change to any
    value) keeps the eager loop. The two must give the same weights, bit for bit."""
    x = correlated_inputs(2048, 512, 64, seed=3)
    w, h = _w((96, 512), seed=4).cuda(), (x.T @ x).cuda()
    graphed = run_gptq(w, h, 2, 64, scheme=scheme)
    eager = run_gptq(w, h, 2, 64, scheme=scheme, clip=1.0)
    assert torch.equal(graphed.weight, eager.weight)
    assert torch.equal(graphed.qtensor.codes, eager.qtensor.codes)
