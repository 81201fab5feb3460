"""QLinear: forward = dequantized base + scaled LoRA path; only A and B learn; bytes are real."""

import pytest
import torch

from suite.quant.nf import quantize_nf
from suite.quant.qlinear import QLinear
from suite.quant.qtensor import dequantize


def make(bits=4, out=48, inp=128, rank=8, scaling=2.0):
    torch.manual_seed(0)
    qt = quantize_nf(torch.randn(out, inp), bits, 64)
    a, b = torch.randn(rank, inp), torch.randn(out, rank)
    return QLinear(qt, a, b, scaling), qt, a, b


def test_forward_is_dequantized_base_plus_scaled_lora():
    layer, qt, a, b = make()
    x = torch.randn(5, 128)
    expected = x @ dequantize(qt).T + 2.0 * (x @ a.T) @ b.T
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)


def test_gradients_reach_only_a_and_b():
    layer, *_ = make()
    x = torch.randn(5, 128, requires_grad=True)
    layer(x).square().sum().backward()
    trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
    assert trainable == {"lora_A", "lora_B"}
    assert layer.lora_A.grad.abs().sum() > 0 and layer.lora_B.grad.abs().sum() > 0
    assert x.grad is not None  # the input still gets its gradient, for earlier layers
    assert all(not buf.requires_grad for buf in layer.buffers())


def test_storage_equals_accounted_bits():
    for bits in (2, 3, 4):
        layer, qt, *_ = make(bits)
        stored = sum(t.numel() * t.element_size() for t in qt.state_dict().values())
        assert layer.base_bytes() == stored == qt.nbytes()
        # codes at `bits` each, one float32 absmax per 64 weights, a 2**bits float32 code book
        numel = 48 * 128
        expected = numel * bits / 8 + numel / 64 * 4 + 2**bits * 4
        assert layer.base_bytes() == expected
        book = 2**bits * 4  # the code book is stored, and accounted aside (suite.budget)
        assert layer.accounted_bytes() == expected - book
        assert abs(layer.effective_bits() - 8 * (expected - book) / numel) < 1e-12


def test_dense_base_for_lora16():
    w = torch.randn(16, 64)
    layer = QLinear(w, torch.zeros(4, 64), torch.zeros(16, 4), 1.0)
    x = torch.randn(3, 64)
    torch.testing.assert_close(layer(x), x @ w.T)
    assert layer.base_bytes() == 16 * 64 * 4 and layer.storage == "dense"


def test_dense_bases_dequantize_once_and_change_no_output(monkeypatch):
    from suite.quant import qlinear

    layer = make()[0]
    model = torch.nn.Sequential(layer)
    x = torch.randn(5, 128)
    reference = model(x)
    calls = []
    real = qlinear.dequantize
    monkeypatch.setattr(qlinear, "dequantize", lambda *a, **k: calls.append(1) or real(*a, **k))
    with qlinear.dense_bases(model):
        outs = [model(x) for _ in range(4)]
    assert len(calls) == 1  # made once for four forward passes
    for out in outs:
        assert torch.equal(out, reference)
    assert "_dense_base" not in layer.__dict__  # nothing stays behind
    model(x)
    assert len(calls) == 2  # outside the block, once per forward again


def test_dense_bases_cast_the_adapter_once_and_change_no_output():
    layer = make()[0]
    model = torch.nn.Sequential(layer)
    x = torch.randn(5, 128, dtype=torch.bfloat16)
    reference = model(x)
    with qlinear_module().dense_bases(model):
        outs = [model(x) for _ in range(3)]
        a, b = layer.__dict__["_eval_lora"]
        assert a.dtype == b.dtype == torch.bfloat16
        assert torch.equal(a, layer.lora_A.to(torch.bfloat16))
        assert model(x) is not None and layer.__dict__["_eval_lora"][0] is a  # made once
    assert all(torch.equal(out, reference) for out in outs)
    assert "_eval_lora" not in layer.__dict__


def test_evaluation_bases_on_the_cpu_dequantize_once():
    from suite.quant.eval_bases import evaluation_bases

    layer = make()[0]
    model = torch.nn.Sequential(layer)
    x = torch.randn(5, 128)
    reference = model(x)
    with evaluation_bases(model, rows=4) as mode:
        assert mode == "dense"
        assert torch.equal(model(x), reference)
        assert layer.__dict__["_dense_base"] is not None
    assert "_dense_base" not in layer.__dict__ and "_eval_lora" not in layer.__dict__


def qlinear_module():
    from suite.quant import qlinear

    return qlinear


def test_inside_the_evaluation_block_a_cuda_forward_builds_no_packed_arguments(monkeypatch):
    """A double-quantized NF4 layer (qlora's default) inside ``dense_bases(cuda=True)``: the
    CUDA forward multiplies by the one dense copy and never rebuilds the packed arguments
    (which would expand the double-quantized scales, copying their code table to the device,
    at every call: slow, and not allowed while a CUDA graph is captured). Run on the CPU by
    calling the CUDA forward's arithmetic directly."""
    from suite.quant.dq import BNB_DQ

    torch.manual_seed(0)
    qt = quantize_nf(torch.randn(64, 128), 4, 64, dq=BNB_DQ)
    layer = QLinear(qt, torch.randn(4, 128) * 0.1, torch.randn(64, 4) * 0.1, 2.0)
    x = torch.randn(3, 128)
    reference = layer(x)
    with qlinear_module().dense_bases(torch.nn.Sequential(layer), cuda=True):
        assert torch.allclose(layer._cuda_forward(x), reference, atol=1e-5)  # fills the copy
        monkeypatch.setattr(QLinear, "packed_args", lambda self: pytest.fail("packed args built"))
        assert torch.allclose(layer._cuda_forward(x), reference, atol=1e-5)
