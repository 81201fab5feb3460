"""``y = x @ Wᵀ`` on CUDA for a packed low-bit W, as an autograd Function that keeps W packed.

:class:`PackedMatmul` saves only the packed tensors (codes, scales, zeros or code book) for the
backward pass, never a dequantized weight and never ``x`` (W is frozen, so its gradient is not
needed and ``grad_x = grad_y @ W`` needs W alone). Which kernel runs depends on the number of
rows (tokens) of the call, ``policy`` and ``fused_max_rows``:

- ``"fused"`` rows, or ``"auto"`` with rows <= ``fused_max_rows`` (decoding, small batches): the
  Triton kernels of :mod:`suite.quant.kernels` dequantize W tile by tile inside the matmul loop,
  forward (``x @ Wᵀ``) and backward (``grad_y @ W``, the transposed access pattern); no dense
  copy of W exists at any time.
- ``"dequant"``, or ``"auto"`` with more rows (training and prefill, where the matmul is
  compute-bound): one Triton pass writes W as a *transient* dense bf16 buffer, cuBLAS multiplies,
  and the buffer is freed at once; the backward pass dequantizes again. At most one layer's dense
  weight exists at a time and none is kept between calls (bitsandbytes' Linear4bit works the
  same way). ``FUSED_MAX_ROWS`` comes from the kernel sweep of :mod:`suite.bench.rates` on an
  H100: at 11008x4096 the fused kernel wins for decoding batches (1-16 rows) and loses from a
  few dozen rows on, where cuBLAS's tensor-core GEMM amortises the one dequantization pass.

LoRA's A and B are not part of this Function: their gradients come from plain matmuls in
QLinear's forward.

On CUDA, with ``x`` (rows, in) in bf16 and a packed QLinear ``layer``, the base's product is::

    y = packed_matmul(x, layer.packed_args(), policy="auto")  # (rows, out), differentiable in x
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch

POLICIES = ("auto", "fused", "dequant")
FUSED_MAX_ROWS = 16
SUPPORTED_BITS = (2, 3, 4)


@dataclass(frozen=True)
class PackedArgs:
    """A packed weight as the kernels read it (the tensors are QLinear's own buffers)."""

    codes: torch.Tensor
    scales: torch.Tensor | None  # (out, groups); QLinear fills in double-quantized ones per call
    zeros: torch.Tensor | None  # INT zero points, packed at ``bits`` bits
    codebook: torch.Tensor | None  # NF code book, float32
    shape: tuple[int, int]
    bits: int
    group_size: int


def kernel_supports(scheme: str, bits: int, group_size: int, shape: tuple[int, int]) -> bool:
    """Whether the Triton kernels handle this packed layout (else the reference path runs)."""
    numel = shape[0] * shape[1]
    return (
        scheme in ("nf", "int")
        and bits in SUPPORTED_BITS
        and group_size % 32 == 0
        and numel * bits < 2**31
    )


def triton_available() -> bool:
    """Whether Triton can be imported (checked without importing it)."""
    return importlib.util.find_spec("triton") is not None


def _use_fused(rows: int, policy: str, fused_max_rows: int) -> bool:
    if policy not in POLICIES:
        raise ValueError(f"kernel policy {policy!r} is not allowed; allowed: {', '.join(POLICIES)}")
    return policy == "fused" or (policy == "auto" and rows <= fused_max_rows)


def dense_weight(p: PackedArgs, dtype: torch.dtype) -> torch.Tensor:
    """W (out, in) in ``dtype`` by the dequantize kernel, as the dequantize-then-GEMM path uses."""
    from suite.quant.kernels import dequantize_packed

    return dequantize_packed(
        p.codes, p.scales, p.zeros, p.codebook, p.shape, p.bits, p.group_size, dtype
    )


def packed_product(x2: torch.Tensor, p: PackedArgs, fused: bool) -> torch.Tensor:
    """x2 @ Wᵀ for the packed W: the fused kernel (``fused``, bf16/fp16 input) or a transient
    dense weight and cuBLAS."""
    from suite.quant.kernels import fused_forward

    if fused and x2.dtype in (torch.bfloat16, torch.float16):
        return fused_forward(
            x2, p.codes, p.scales, p.zeros, p.codebook, p.shape, p.bits, p.group_size
        )
    w = dense_weight(p, x2.dtype)
    return x2 @ w.t()


def _bwd(g2: torch.Tensor, p: PackedArgs, fused: bool) -> torch.Tensor:
    from suite.quant.kernels import fused_backward

    if fused and g2.dtype in (torch.bfloat16, torch.float16):
        return fused_backward(
            g2, p.codes, p.scales, p.zeros, p.codebook, p.shape, p.bits, p.group_size
        )
    w = dense_weight(p, g2.dtype)
    return g2 @ w


class PackedMatmul(torch.autograd.Function):
    """``x @ Wᵀ`` for a 2-D ``x`` with W packed; only the packed tensors are kept for backward.

    The packed tensors are the layer's frozen buffers: they are held by reference on ``ctx``
    (nothing is copied or dequantized ahead of the backward pass).
    """

    @staticmethod
    def forward(ctx, x2, packed, fused):
        ctx.packed, ctx.fused = packed, fused
        return packed_product(x2, packed, fused)

    @staticmethod
    def backward(ctx, grad_y):
        if not ctx.needs_input_grad[0]:
            return None, None, None
        return _bwd(grad_y, ctx.packed, ctx.fused), None, None


def packed_matmul(
    x: torch.Tensor, p: PackedArgs, policy: str = "auto", fused_max_rows: int = FUSED_MAX_ROWS
) -> torch.Tensor:
    """``x @ Wᵀ`` (any leading dims) with gradient for ``x`` only; x's dtype is kept. Where no
    gradient can flow (inference, or an ``x`` that needs none) the kernels run directly,
    without an autograd node."""
    x2 = x.reshape(-1, p.shape[1])
    fused = _use_fused(x2.shape[0], policy, fused_max_rows)
    if x2.requires_grad and torch.is_grad_enabled():
        y = PackedMatmul.apply(x2, p, fused)
    else:
        y = packed_product(x2, p, fused)
    return y if x.dim() == 2 else y.view(*x.shape[:-1], p.shape[0])
