"""The CUDA kernels for packed bases agree with dequantize-then-matmul, forward and backward.

For every bit width (2, 3, 4), scheme (NF, INT) and group size (32, 64, 128), on shapes that are
not multiples of the tiles, through both kernel paths (fused, and transient dense + cuBLAS):
the dequantize kernel is bit-identical to the reference; QLinear's output and the gradients of
the input, A and B are within bf16 tolerance of a float32 reference; nothing dense is saved for
backward; the fused path never allocates a dense copy of W.
"""

from __future__ import annotations

import pytest
import torch

from suite.quant.nf import quantize_nf
from suite.quant.qlinear import QLinear
from suite.quant.qtensor import dequantize
from suite.quant.uniform import quantize_int

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

QUANTIZE = {"nf": quantize_nf, "int": quantize_int}
TOL = 1e-2  # bf16 operands: relative errors land between 1e-3 and 1e-2


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    assert torch.isfinite(a).all(), "non-finite values: an element was not written"
    return float((a - b).norm() / b.norm())


def poison() -> None:
    """Leave NaN in the allocator's free blocks, so an unwritten output element shows."""
    junk = torch.full((1 << 24,), float("nan"), device="cuda")
    del junk


def make_layer(scheme: str, bits: int, group: int, out_f: int, in_f: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(out_f, in_f, generator=gen)
    qt = QUANTIZE[scheme](w.cuda(), bits, group)
    a = torch.randn(16, in_f, generator=gen) / in_f**0.5
    b = torch.randn(out_f, 16, generator=gen) / 4
    return QLinear(qt, a, b, 2.0).cuda(), qt


@pytest.mark.parametrize("group", [32, 64, 128])
@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("scheme", ["nf", "int"])
def test_dequantize_kernel_is_bit_identical(scheme: str, bits: int, group: int) -> None:
    from suite.quant.kernels import dequantize_packed

    layer, qt = make_layer(scheme, bits, group, 100, 3 * group, seed=bits + group)
    p = layer.packed_args()
    for dtype in (torch.bfloat16, torch.float32):
        poison()
        got = dequantize_packed(
            p.codes, p.scales, p.zeros, p.codebook, p.shape, p.bits, p.group_size, dtype
        )
        assert torch.equal(got, dequantize(qt).to(dtype))


@pytest.mark.parametrize("policy", ["fused", "dequant"])
@pytest.mark.parametrize("rows", [1, 37, 300])
@pytest.mark.parametrize("group", [32, 64, 128])
@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("scheme", ["nf", "int"])
def test_forward_and_gradients_match_reference(scheme, bits, group, rows, policy) -> None:
    out_f, in_f = 100, 3 * group  # neither a multiple of the 64-wide output tiles
    layer, qt = make_layer(scheme, bits, group, out_f, in_f, seed=rows)
    layer.kernel_policy = policy
    gen = torch.Generator().manual_seed(rows + 1)
    x = torch.randn(rows, in_f, generator=gen).cuda().bfloat16().requires_grad_()
    r = torch.randn(rows, out_f, generator=gen).cuda()
    poison()
    y = layer(x)
    assert y.dtype == torch.bfloat16
    (y.float() * r).sum().backward()

    w = dequantize(qt).to(torch.bfloat16).float()
    xr = x.detach().float().requires_grad_()
    a = layer.lora_A.detach().clone().requires_grad_()
    b = layer.lora_B.detach().clone().requires_grad_()
    yr = xr @ w.T + 2.0 * (xr @ a.T) @ b.T
    (yr * r).sum().backward()
    assert rel(y, yr) < TOL
    assert rel(x.grad, xr.grad) < TOL
    assert rel(layer.lora_A.grad, a.grad) < TOL
    assert rel(layer.lora_B.grad, b.grad) < TOL


@pytest.mark.parametrize("policy", ["fused", "dequant"])
@pytest.mark.parametrize("dq", ["bnb", "uint"])
def test_double_quantized_scales_go_through_the_kernels(dq: str, policy: str) -> None:
    """QLoRA's and LQ-LoRA's double-quantized absmax values: the kernels get the expanded scales
    per call (nothing float is kept on the layer), and match dequantize-then-matmul."""
    from suite.quant.dq import BNB_DQ, DQSpec
    from suite.quant.kernels import dequantize_packed

    spec = BNB_DQ if dq == "bnb" else DQSpec("uint", 3, 16, "bfloat16")
    gen = torch.Generator().manual_seed(11)
    w = torch.randn(100, 192, generator=gen)
    qt = quantize_nf(w.cuda(), 4, 64, dq=spec)
    a = torch.randn(16, 192, generator=gen) / 192**0.5
    b = torch.randn(100, 16, generator=gen) / 4
    layer = QLinear(qt, a, b, 2.0).cuda()
    layer.kernel_policy = policy
    assert not any(n.endswith("q_scales") for n, _ in layer.named_buffers())
    p = layer.packed_args()
    got = dequantize_packed(
        p.codes, p.scales, p.zeros, p.codebook, p.shape, p.bits, p.group_size, torch.float32
    )
    assert torch.equal(got, dequantize(qt))
    x = torch.randn(37, 192, generator=gen).cuda().bfloat16().requires_grad_()
    y = layer(x)
    y.float().sum().backward()
    xr = x.detach().float().requires_grad_()
    wr = dequantize(qt).to(torch.bfloat16).float()
    yr = xr @ wr.T + 2.0 * (xr @ layer.lora_A.detach().T) @ layer.lora_B.detach().T
    yr.sum().backward()
    assert rel(y, yr) < TOL and rel(x.grad, xr.grad) < TOL


@pytest.mark.parametrize("scheme", ["nf", "int"])
def test_autocast_float32_input(scheme: str) -> None:
    layer, qt = make_layer(scheme, 3, 64, 72, 192, seed=3)
    x = torch.randn(2, 5, 192, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16 and y.shape == (2, 5, 72)
    ref = x @ dequantize(qt).T + 2.0 * (x @ layer.lora_A.T) @ layer.lora_B.T
    assert rel(y, ref.detach()) < TOL


def test_backward_saves_no_dense_weight() -> None:
    layer, _ = make_layer("int", 2, 64, 256, 512, seed=5)
    x = torch.randn(300, 512, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    saved: list[torch.Size] = []

    def pack_hook(t: torch.Tensor):
        saved.append(t.shape)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack_hook, lambda t: t):
        y = layer(x)
    assert (256, 512) not in saved and (512, 256) not in saved
    y.sum().backward()


def test_fused_path_allocates_no_dense_weight() -> None:
    layer, _ = make_layer("nf", 4, 64, 4096, 4096, seed=6)
    layer.kernel_policy = "fused"
    x = torch.randn(16, 4096, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    layer(x).sum().backward()  # compile and warm up
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    layer(x).sum().backward()
    torch.cuda.synchronize()
    dense_bytes = 4096 * 4096 * 2
    assert torch.cuda.max_memory_allocated() - before < dense_bytes // 4


@pytest.mark.parametrize("rows", [1, 8, 64])
@pytest.mark.parametrize(("scheme", "bits"), [("nf", 4), ("int", 2), ("nf", 3)])
def test_dense_bases_are_the_same_model_as_the_packed_kernels(scheme, bits, rows) -> None:
    """Evaluation on dense copies: the copy equals the weight the kernels rebuild (exactly), and
    a layer's output is within bf16 rounding (TOL) of the fused kernel's and equals the
    dequantize-then-GEMM path's."""
    from suite.quant.qlinear import dense_bases

    layer, qt = make_layer(scheme, bits, 64, 320, 512, seed=rows + bits)
    x = torch.randn(rows, 512, device="cuda", dtype=torch.bfloat16)
    with torch.inference_mode():
        layer.kernel_policy = "fused"
        fused = layer(x)
        layer.kernel_policy = "dequant"
        dequant = layer(x)
        with dense_bases(torch.nn.Sequential(layer), cuda=True):
            dense = layer(x)
            copy = layer.__dict__["_dense_base"]
    assert torch.equal(copy, dequantize(qt).to(torch.bfloat16))
    assert torch.equal(dense, dequant)
    assert rel(dense, fused) < TOL
    assert "_dense_base" not in layer.__dict__


def test_measured_kernels_pick_a_path_per_layout_and_restore() -> None:
    from suite.quant.eval_bases import evaluation_bases, measured_kernels

    model = torch.nn.Sequential(
        make_layer("nf", 4, 64, 1024, 512, seed=1)[0],
        make_layer("nf", 4, 64, 1024, 512, seed=2)[0],
        make_layer("int", 2, 64, 512, 1024, seed=3)[0],
    )
    x = torch.randn(8, 512, device="cuda", dtype=torch.bfloat16)
    with torch.inference_mode():
        reference = model[0](x)
        with measured_kernels(model, rows=8) as choices:
            assert len(choices) == 2  # two layouts, three layers
            for layer in model:
                assert layer.fused_max_rows in (0, 8)
            assert rel(model[0](x), reference) < TOL
        assert all(layer.fused_max_rows == 16 for layer in model)
        with evaluation_bases(model, rows=8, share=0.0) as mode:
            assert mode == "packed"
        with evaluation_bases(model, rows=8) as mode:
            assert mode == "dense"
