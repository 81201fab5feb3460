"""Triton kernels that read QLinear's packed base in place: dequantize, and fused matmuls.

The kernels read exactly the buffers a QLinear holds for a packed base, with no repacking and
no second copy: ``codes`` (row-major, MSB-first, k-bit codes back to back, see
:mod:`suite.quant.packing`), ``scales`` (out, groups) in their stored dtype, and either the NF code
book (float32, 2**k values) or the INT zero points *packed at k bits* the same way as the codes.
The codes of one row of a tile are contiguous bytes, read in one vector load per thread and split
in registers (2 or 4 codes per byte; for k = 3, 8 codes per 3 bytes). A weight tile is rebuilt
in registers as ``codebook[code] * scale`` (NF) or ``(code - zero) * scale`` (INT) in float32,
exactly as :func:`suite.quant.qtensor.dequantize` computes it, then cast to the activations'
dtype. Tiles never straddle a quantization group along the input dimension (the block ``BK``
divides ``group_size``), so a tile row needs one scale and one zero point.

Three kernels:

- ``dequantize_packed``: W (out, in) in bf16/fp16/fp32, one pass (read packed, write dense).
- ``fused_forward``: ``y = x @ Wᵀ``, dequantizing W tile by tile inside the K loop (split-K for
  few rows, so small batches fill the GPU).
- ``fused_backward``: ``grad_x = grad_y @ W``, the transposed access pattern: the reduction runs
  over the output features, each tile is dequantized the same way (split-N for few rows).

On CUDA, the dense bf16 weight of a packed NF4 QLinear ``layer`` (4096 x 4096, group 64) is::

    w = dequantize_packed(layer.q_codes, layer.q_scales, None, layer.q_codebook,
                          shape=(4096, 4096), bits=4, group_size=64, dtype=torch.bfloat16)
"""

from __future__ import annotations

import functools
import math

import torch
import triton
import triton.language as tl


@triton.jit
def _unpack(ptr, idx, mask, nbytes, BITS: tl.constexpr):
    """The BITS-bit codes at element indices ``idx`` of an MSB-first packed byte stream."""
    bit = idx * BITS
    byte = bit >> 3
    shift = bit & 7
    b0 = tl.load(ptr + byte, mask=mask, other=0).to(tl.int32)
    if BITS == 3:
        b1 = tl.load(ptr + byte + 1, mask=mask & (byte + 1 < nbytes), other=0).to(tl.int32)
        code = (((b0 << 8) | b1) >> (13 - shift)) & 7
    else:
        code = (b0 >> (8 - BITS - shift)) & ((1 << BITS) - 1)
    return code


@triton.jit
def _codes_tile(codes_ptr, offs_n, n_mask, kt, row_bytes, BITS: tl.constexpr, BK: tl.constexpr):
    """[BN, BK] int32 codes of rows ``offs_n``, input columns kt*BK .. kt*BK + BK - 1.

    Each row's codes of the tile are contiguous bytes (BK * BITS / 8 of them), loaded in one
    go and split into codes in registers: 2 (4-bit) or 4 (2-bit) codes per byte, 8 codes per
    3 bytes (3-bit). ``tl.join`` builds the codes of a byte (unit) in their stream order.
    """
    base = codes_ptr + offs_n[:, None] * row_bytes + kt * (BK * BITS // 8)
    rows = n_mask[:, None]
    if BITS == 4:
        b = tl.load(base + tl.arange(0, BK // 2)[None, :], mask=rows, other=0).to(tl.int32)
        codes = tl.join(b >> 4, b & 15)
    elif BITS == 2:
        b = tl.load(base + tl.arange(0, BK // 4)[None, :], mask=rows, other=0).to(tl.int32)
        codes = tl.join(tl.join(b >> 6, (b >> 2) & 3), tl.join((b >> 4) & 3, b & 3))
    else:
        unit = base + 3 * tl.arange(0, BK // 8)[None, :]
        b0 = tl.load(unit, mask=rows, other=0).to(tl.int32)
        b1 = tl.load(unit + 1, mask=rows, other=0).to(tl.int32)
        b2 = tl.load(unit + 2, mask=rows, other=0).to(tl.int32)
        c0 = b0 >> 5
        c1 = (b0 >> 2) & 7
        c2 = ((b0 & 3) << 1) | (b1 >> 7)
        c3 = (b1 >> 4) & 7
        c4 = (b1 >> 1) & 7
        c5 = ((b1 & 1) << 2) | (b2 >> 6)
        c6 = (b2 >> 3) & 7
        c7 = b2 & 7
        even = tl.join(tl.join(c0, c4), tl.join(c2, c6))
        codes = tl.join(even, tl.join(tl.join(c1, c5), tl.join(c3, c7)))
    return tl.reshape(codes, (offs_n.shape[0], BK))


@triton.jit
def _pick(bit, when_clear, when_set):
    return tl.where(bit, when_set, when_clear)


@triton.jit
def _nf_quad(cb_ptr, start: tl.constexpr, b0, b1):
    """codebook[start + (code & 3)] by selects on the code's two low bits."""
    low = _pick(b0, tl.load(cb_ptr + start), tl.load(cb_ptr + start + 1))
    high = _pick(b0, tl.load(cb_ptr + start + 2), tl.load(cb_ptr + start + 3))
    return _pick(b1, low, high)


@triton.jit
def _nf_select(code, cb_ptr, BITS: tl.constexpr):
    """codebook[code] by a tree of selects on the code's bits: no per-element memory access."""
    b0 = (code & 1) != 0
    b1 = (code & 2) != 0
    value = _nf_quad(cb_ptr, 0, b0, b1)
    if BITS >= 3:
        b2 = (code & 4) != 0
        value = _pick(b2, value, _nf_quad(cb_ptr, 4, b0, b1))
        if BITS == 4:
            upper = _pick(b2, _nf_quad(cb_ptr, 8, b0, b1), _nf_quad(cb_ptr, 12, b0, b1))
            value = _pick((code & 8) != 0, value, upper)
    return value


@triton.jit
def _weight_tile(
    codes_ptr,
    scales_ptr,
    zeros_ptr,
    cb_ptr,
    offs_n,
    kt,
    N,
    K,
    G,
    zero_bytes,
    BITS: tl.constexpr,
    IS_NF: tl.constexpr,
    BK: tl.constexpr,
    NF_GATHER: tl.constexpr,
):
    """Float32 tile W[offs_n, kt*BK : kt*BK + BK]; rows n >= N are 0. One group per row.

    NF values come from a gather load of the code book (``NF_GATHER``, used by the dequantize
    kernel) or from a select tree (the fused kernels, where the gather was measured slow).
    """
    n_mask = offs_n < N
    code = _codes_tile(codes_ptr, offs_n, n_mask, kt, K * BITS // 8, BITS, BK)
    gidx = offs_n * (K // G) + (kt * BK) // G
    scale = tl.load(scales_ptr + gidx, mask=n_mask, other=0.0).to(tl.float32)
    if IS_NF:
        if NF_GATHER:  # noqa: SIM108 (a constexpr branch)
            value = tl.load(cb_ptr + code)
        else:
            value = _nf_select(code, cb_ptr, BITS)
    else:
        zero = _unpack(zeros_ptr, gidx, n_mask, zero_bytes, BITS).to(tl.float32)
        value = code.to(tl.float32) - zero[:, None]
    return value * scale[:, None]


@triton.jit
def _dequant_kernel(
    codes_ptr,
    scales_ptr,
    zeros_ptr,
    cb_ptr,
    out_ptr,
    N,
    K,
    G,
    zero_bytes,
    BITS: tl.constexpr,
    IS_NF: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
):
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    offs_n = pid_n * BN + tl.arange(0, BN)
    offs_k = pid_k * BK + tl.arange(0, BK)
    w = _weight_tile(
        codes_ptr, scales_ptr, zeros_ptr, cb_ptr, offs_n, pid_k, N, K, G, zero_bytes,
        BITS, IS_NF, BK, True,
    )  # fmt: skip
    ptrs = out_ptr + offs_n[:, None] * K + offs_k[None, :]
    tl.store(ptrs, w.to(out_ptr.dtype.element_ty), mask=offs_n[:, None] < N)


@triton.jit
def _fused_fwd_kernel(
    x_ptr,
    codes_ptr,
    scales_ptr,
    zeros_ptr,
    cb_ptr,
    out_ptr,
    M,
    N,
    K,
    G,
    stride_xm,
    split,
    split_stride,
    zero_bytes,
    BITS: tl.constexpr,
    IS_NF: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_s = tl.program_id(2)
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_n = pid_n * BN + tl.arange(0, BN)
    m_mask = offs_m < M
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for t in range(pid_s, K // BK, split):
        offs_k = t * BK + tl.arange(0, BK)
        x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :], m_mask[:, None], 0.0)
        w = _weight_tile(
            codes_ptr, scales_ptr, zeros_ptr, cb_ptr, offs_n, t, N, K, G, zero_bytes,
            BITS, IS_NF, BK, False,
        )  # fmt: skip
        acc += tl.dot(x, tl.trans(w.to(x.dtype)))
    ptrs = out_ptr + pid_s * split_stride + offs_m[:, None] * N + offs_n[None, :]
    tl.store(ptrs, acc.to(out_ptr.dtype.element_ty), mask=m_mask[:, None] & (offs_n[None, :] < N))


@triton.jit
def _fused_bwd_kernel(
    g_ptr,
    codes_ptr,
    scales_ptr,
    zeros_ptr,
    cb_ptr,
    out_ptr,
    M,
    N,
    K,
    G,
    stride_gm,
    split,
    split_stride,
    zero_bytes,
    BITS: tl.constexpr,
    IS_NF: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_k = tl.program_id(1)
    pid_s = tl.program_id(2)
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_k = pid_k * BK + tl.arange(0, BK)
    m_mask = offs_m < M
    acc = tl.zeros((BM, BK), dtype=tl.float32)
    for t in range(pid_s, tl.cdiv(N, BN), split):
        offs_n = t * BN + tl.arange(0, BN)
        g_mask = m_mask[:, None] & (offs_n[None, :] < N)
        g = tl.load(g_ptr + offs_m[:, None] * stride_gm + offs_n[None, :], g_mask, 0.0)
        w = _weight_tile(
            codes_ptr, scales_ptr, zeros_ptr, cb_ptr, offs_n, pid_k, N, K, G, zero_bytes,
            BITS, IS_NF, BK, False,
        )  # fmt: skip
        acc += tl.dot(g, w.to(g.dtype))
    ptrs = out_ptr + pid_s * split_stride + offs_m[:, None] * K + offs_k[None, :]
    tl.store(ptrs, acc.to(out_ptr.dtype.element_ty), mask=m_mask[:, None])


def block_k(group_size: int, cap: int = 128) -> int:
    """The K tile: the largest power of two <= cap dividing the group size (>= 16 required)."""
    bk = math.gcd(group_size, cap)
    if bk < 16:
        raise ValueError(f"group_size={group_size} needs a divisor >= 16 that is a power of two")
    return bk


def _common(codes, scales, zeros, codebook, bits: int):
    is_nf = codebook is not None
    zeros_arg = codebook if zeros is None else zeros  # an unused pointer still needs a tensor
    cb_arg = zeros if codebook is None else codebook
    zero_bytes = 0 if zeros is None else zeros.numel()
    return is_nf, zeros_arg, cb_arg, zero_bytes


def _rows_block(m: int, cap: int) -> int:
    return min(cap, max(16, triton.next_power_of_2(m)))


@functools.cache
def _multiprocessors(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def _split(programs: int, tiles: int, device: torch.device) -> int:
    """Split factor so that about two programs run per multiprocessor (at most ``tiles``)."""
    if device.type != "cuda":
        return min(2, tiles)
    sms = _multiprocessors(device.index if device.index is not None else 0)
    return max(1, min(tiles, (2 * sms + programs - 1) // programs, 16))


def dequantize_packed(
    codes: torch.Tensor,
    scales: torch.Tensor,
    zeros: torch.Tensor | None,
    codebook: torch.Tensor | None,
    shape: tuple[int, int],
    bits: int,
    group_size: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    """The dense (out, in) weight in ``dtype``, bit-identical to ``dequantize(qt).to(dtype)``."""
    n, k = shape
    is_nf, zeros_arg, cb_arg, zero_bytes = _common(codes, scales, zeros, codebook, bits)
    bk = block_k(group_size)
    bn = max(16, 4096 // bk)
    out = torch.empty((n, k), dtype=dtype, device=codes.device)
    grid = (triton.cdiv(n, bn), k // bk)
    _dequant_kernel[grid](
        codes, scales, zeros_arg, cb_arg, out, n, k, group_size, zero_bytes,
        BITS=bits, IS_NF=is_nf, BN=bn, BK=bk, num_warps=4,
    )  # fmt: skip
    return out


def fused_forward(
    x: torch.Tensor,
    codes: torch.Tensor,
    scales: torch.Tensor,
    zeros: torch.Tensor | None,
    codebook: torch.Tensor | None,
    shape: tuple[int, int],
    bits: int,
    group_size: int,
) -> torch.Tensor:
    """``x @ Wᵀ`` for a 2-D ``x`` (rows, in) in bf16/fp16, W dequantized tile by tile."""
    n, k = shape
    m = x.shape[0]
    x = x if x.stride(1) == 1 else x.contiguous()
    is_nf, zeros_arg, cb_arg, zero_bytes = _common(codes, scales, zeros, codebook, bits)
    bm, bn, bk = _rows_block(m, 64), 64, block_k(group_size)
    tiles = triton.cdiv(m, bm) * triton.cdiv(n, bn)
    split = _split(tiles, k // bk, x.device)
    out = torch.empty(
        (split, m, n) if split > 1 else (m, n),
        dtype=torch.float32 if split > 1 else x.dtype,
        device=x.device,
    )
    grid = (triton.cdiv(m, bm), triton.cdiv(n, bn), split)
    _fused_fwd_kernel[grid](
        x, codes, scales, zeros_arg, cb_arg, out, m, n, k, group_size, x.stride(0), split, m * n,
        zero_bytes, BITS=bits, IS_NF=is_nf, BM=bm, BN=bn, BK=bk,
        num_warps=4, num_stages=3,
    )  # fmt: skip
    return out.sum(0).to(x.dtype) if split > 1 else out


def fused_backward(
    g: torch.Tensor,
    codes: torch.Tensor,
    scales: torch.Tensor,
    zeros: torch.Tensor | None,
    codebook: torch.Tensor | None,
    shape: tuple[int, int],
    bits: int,
    group_size: int,
) -> torch.Tensor:
    """``g @ W`` for a 2-D ``g`` (rows, out) in bf16/fp16: the input gradient of ``x @ Wᵀ``."""
    n, k = shape
    m = g.shape[0]
    g = g if g.stride(1) == 1 else g.contiguous()
    is_nf, zeros_arg, cb_arg, zero_bytes = _common(codes, scales, zeros, codebook, bits)
    bm, bn, bk = _rows_block(m, 64), 64, block_k(group_size, 64)
    tiles = triton.cdiv(m, bm) * (k // bk)
    split = _split(tiles, triton.cdiv(n, bn), g.device)
    out = torch.empty(
        (split, m, k) if split > 1 else (m, k),
        dtype=torch.float32 if split > 1 else g.dtype,
        device=g.device,
    )
    grid = (triton.cdiv(m, bm), k // bk, split)
    _fused_bwd_kernel[grid](
        g, codes, scales, zeros_arg, cb_arg, out, m, n, k, group_size, g.stride(0), split, m * k,
        zero_bytes, BITS=bits, IS_NF=is_nf, BM=bm, BN=bn, BK=bk,
        num_warps=4, num_stages=3,
    )  # fmt: skip
    return out.sum(0).to(g.dtype) if split > 1 else out
