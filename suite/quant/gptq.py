"""GPTQ / OPTQ (Frantar et al., 2023): column-by-column quantization with Hessian error feedback.

Given a layer weight W (out, in) and the Gram matrix H = XᵀX of its inputs, the columns are
quantized one at a time and each column's rounding error is spread over the not yet quantized
columns through the upper Cholesky factor of H⁻¹, which minimises ‖X(W − Q)ᵀ‖ greedily. As in
the reference implementation: inputs with H_ii = 0 are dead (H_ii := 1, W[:, i] := 0); H is
damped by ``damp * mean(diag H)``; updates are applied lazily in blocks of ``block_size`` columns.

Grids: ``scheme="int"`` (asymmetric INT-k, :mod:`suite.quant.uniform`) or ``scheme="nf"`` (NF-k
code book with absmax scales, :mod:`suite.quant.nf`). Groups are ``group_size`` consecutive input
columns. When a group's scale/zero are computed is ``group_params``:

- ``"reference"`` (default): as the reference loop (IST-DASLab's ``gptq.py``, and AutoGPTQ /
  GPTQModel after it): when the group's first column is reached, from the weight matrix as it
  stood at the start of the current block, i.e. with the lazy updates of the earlier blocks but
  none of the current block's. The result therefore depends on ``block_size``, as the
  reference's does. With ``act_order`` the groups are static (below), as GPTQModel's
  ``static_groups``: act-order's own groups would be runs of permuted columns, which a packed
  QTensor (no stored permutation) cannot hold.
- ``"fresh"``: from the fully error-updated weights of the whole group when its first column is
  reached (including the current block's pending updates), so any ``block_size`` gives the same
  result up to float rounding. Not the reference's moment; kept as a labelled variant (it was
  qbench's default before). On 49 SmolLM2-135M layers (32 x 256 calibration tokens,
  ``scripts/gptq_group_params.py``) its output error was 0.6% above the reference's at 2 bits,
  0.1% at 3 bits and equal at 4. Not allowed with ``act_order``.
- ``"static"``: every group's parameters up front, from the weights before the pass (dead
  inputs zeroed), in the original column order (GPTQModel's ``static_groups``).

With ``act_order`` columns are visited by decreasing H_ii.
Codes are chosen on the stored (dtype-rounded) scales, so the returned weights are exactly what
the packed QTensor dequantizes to. Arithmetic is float32; ``fp64_cholesky`` computes the
inverse-Hessian factor in float64.

:class:`GPTQQuantizer` runs with a run's ``quant.gptq.*`` settings
(:class:`suite.quant.config.GPTQSettings`), the same for every method; with ``cd_passes`` > 0 it
then refines the codes by coordinate descent on their grid (:mod:`suite.quant.refine`, the MagR
authors' refinement).

Speed: the column loop is a few dozen tiny kernels per column, so on a GPU its cost is launch
overhead. Where every group lies inside one block (groups not static, ``block_size`` a multiple
of ``group_size``), a block's column loop is the same sequence of kernels for every block of a
layer; on CUDA it is captured once per layer as a CUDA graph and replayed per block
(:class:`_BlockGraph`), the same arithmetic without the launch cost.

    >>> import torch
    >>> from suite.quant.gptq import gptq_quantize
    >>> from suite.quant.qtensor import dequantize
    >>> from suite.quant.uniform import quantize_int
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(512, 64) @ torch.randn(64, 128)  # correlated layer inputs
    >>> w = torch.randn(32, 128)
    >>> qt = gptq_quantize(w, x.T @ x, bits=3, group_size=64)
    >>> qt.scheme, qt.bits
    ('int', 3)
    >>> def output_err(q):
    ...     return round(((x @ (dequantize(q) - w).T).norm() / (x @ w.T).norm()).item(), 1)
    >>> output_err(qt), output_err(quantize_int(w, bits=3, group_size=64))  # GPTQ vs RTN
    (0.1, 0.2)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch

from suite.quant.config import GPTQSettings, QuantSpec, check_group_params, stored_scale_dtype
from suite.quant.nf import nf_absmax, nf_codebook, nf_codes
from suite.quant.packing import pack
from suite.quant.qtensor import (
    QTensor,
    check_group_size,
    check_scheme_bits,
    check_weight,
    clip_factors,
    dequantize,
    scale_dtype_of,
)
from suite.quant.uniform import int_codes, int_params, int_range, int_values


@dataclass
class GPTQResult:
    """What one GPTQ run produced: the packed weight and the float32 weights the loop chose."""

    qtensor: QTensor
    weight: torch.Tensor  # (out, in) float32, equal to dequantize(qtensor)
    loss: float  # GPTQ's own objective, sum over columns of (w - q)² / (2 [H⁻¹]_jj²)


class _Grid:
    """Per-group parameters and column rounding for one scheme (float32 throughout)."""

    def __init__(self, scheme: str, bits: int, scale_dtype: torch.dtype, device) -> None:
        self.scheme, self.bits, self.scale_dtype = scheme, bits, scale_dtype
        self.codebook = nf_codebook(bits, device) if scheme == "nf" else None

    def params(self, groups: torch.Tensor, clip: torch.Tensor | None):
        """(scale, zero) over the last dim of ``groups``; zero is None for NF."""
        if self.scheme == "nf":
            return nf_absmax(groups, clip, self.scale_dtype), None
        lo, hi = int_range(groups, clip)
        return int_params(lo, hi, self.bits, self.scale_dtype)

    def round(self, x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor | None):
        """(codes, values) of ``x`` on the grid; values exactly as dequantize computes them."""
        if self.scheme == "nf":
            codes = nf_codes(x, scale, self.codebook)
            return codes, self.codebook[codes] * scale
        codes = int_codes(x, scale, zero, self.bits)
        return codes, int_values(codes, scale, zero)


def _inverse_hessian_factor(h: torch.Tensor, damp: float, fp64: bool) -> torch.Tensor:
    """Upper Cholesky factor of (H + damp·mean(diag H)·I)⁻¹, in float32."""
    work = h.to(torch.float64 if fp64 else torch.float32)
    diag = work.diagonal()
    # the mean of a contiguous copy, as the reference (torch.mean(torch.diag(H))): a reduction
    # over the strided diagonal view may round differently
    diag.add_(damp * diag.contiguous().mean())
    low, info = torch.linalg.cholesky_ex(work)
    if int(info) != 0:
        raise ValueError(
            f"the damped Gram matrix is not positive definite (damp={damp}); allowed: a larger "
            "damp, or a Gram matrix from more calibration tokens"
        )
    # H⁻¹ from the factor by triangular solves (torch's CPU cholesky_inverse is very slow)
    inv = torch.cholesky_solve(torch.eye(work.shape[0], dtype=work.dtype, device=work.device), low)
    upper, info = torch.linalg.cholesky_ex(inv, upper=True)
    if int(info) != 0:
        raise ValueError(
            f"the inverse Hessian lost positive definiteness (damp={damp}); allowed: a larger "
            "damp, or fp64_cholesky=True"
        )
    return upper.to(torch.float32)


@dataclass
class _BlockOut:
    """What one block's column loop writes (block-local columns and groups)."""

    codes: torch.Tensor  # (out, n) uint8
    q: torch.Tensor  # (out, n) float32
    err: torch.Tensor  # (out, n) float32
    scales: torch.Tensor  # (out, n // group_size) float32
    zeros: torch.Tensor  # (out, n // group_size) float32
    loss: torch.Tensor  # () float32, accumulated

    @classmethod
    def empty(cls, out_f: int, n: int, group_size: int, device) -> _BlockOut:
        f32 = {"dtype": torch.float32, "device": device}
        return cls(
            torch.empty(out_f, n, dtype=torch.uint8, device=device),
            torch.empty(out_f, n, **f32),
            torch.empty(out_f, n, **f32),
            torch.empty(out_f, n // group_size, **f32),
            torch.zeros(out_f, n // group_size, **f32),
            torch.zeros((), **f32),
        )


def _aligned_block(
    w1: torch.Tensor,
    hinv1: torch.Tensor,
    grid: _Grid,
    group_size: int,
    clip1: torch.Tensor | None,
    out: _BlockOut,
    fresh: bool,
) -> None:
    """The column loop over one block whose groups all lie inside it; ``w1`` is updated in place.

    ``fresh``: each group's parameters from the error-updated weights when its first column is
    reached; else (the reference's moment) all of them from the block-start weights, up front.
    """
    if not fresh:
        n_groups = w1.shape[1] // group_size
        s, z = grid.params(w1.view(w1.shape[0], n_groups, group_size), clip1)
        out.scales.copy_(s)
        if z is not None:
            out.zeros.copy_(z)
    for i in range(w1.shape[1]):
        g = i // group_size
        if fresh and i % group_size == 0:
            s, z = grid.params(w1[:, i : i + group_size], None if clip1 is None else clip1[:, g])
            out.scales[:, g] = s
            if z is not None:
                out.zeros[:, g] = z
        col = w1[:, i]
        c, q = grid.round(col, out.scales[:, g], out.zeros[:, g] if grid.scheme == "int" else None)
        out.codes[:, i] = c.to(torch.uint8)
        out.q[:, i] = q
        e = (col - q) / hinv1[i, i]
        out.loss += (e * e).sum() / 2
        w1[:, i:] -= e.unsqueeze(1) * hinv1[i, i:].unsqueeze(0)
        out.err[:, i] = e


class _BlockGraph:
    """:func:`_aligned_block` captured as a CUDA graph for one block shape, replayed per block."""

    def __init__(
        self, out_f: int, n: int, grid: _Grid, group_size: int, fresh: bool, device
    ) -> None:
        self.w1 = torch.zeros(out_f, n, dtype=torch.float32, device=device)
        self.hinv1 = torch.eye(n, dtype=torch.float32, device=device)
        self.out = _BlockOut.empty(out_f, n, group_size, device)
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):  # one eager pass first, as graph capture asks
            _aligned_block(self.w1.clone(), self.hinv1, grid, group_size, None, self.out, fresh)
        torch.cuda.current_stream(device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            _aligned_block(self.w1, self.hinv1, grid, group_size, None, self.out, fresh)

    def run(self, w1: torch.Tensor, hinv1: torch.Tensor) -> _BlockOut:
        self.w1.copy_(w1)
        self.hinv1.copy_(hinv1)
        self.out.loss.zero_()
        self.graph.replay()
        return self.out


def run_gptq(
    w: torch.Tensor,
    gram: torch.Tensor,
    bits: int,
    group_size: int = 64,
    damp: float = 0.01,
    block_size: int = 128,
    act_order: bool = False,
    scheme: str = "int",
    clip: torch.Tensor | float | None = None,
    scale_dtype: torch.dtype | str = torch.float32,
    fp64_cholesky: bool = False,
    group_params: str = "reference",
) -> GPTQResult:
    """GPTQ on an (out, in) weight with Gram matrix ``gram`` (in, in); see the module docs."""
    check_scheme_bits(scheme, bits)
    check_group_params(group_params, act_order)
    out_f, in_f = check_weight(w)
    check_group_size(group_size, in_f)
    sdtype = scale_dtype_of(scale_dtype)
    if not isinstance(gram, torch.Tensor) or tuple(gram.shape) != (in_f, in_f):
        got = tuple(gram.shape) if isinstance(gram, torch.Tensor) else type(gram).__name__
        raise ValueError(f"gram must be a ({in_f}, {in_f}) tensor H = XᵀX, got {got}")
    if not damp >= 0:
        raise ValueError(f"damp={damp!r} is not allowed; allowed: a number >= 0 (e.g. 0.01)")
    if not isinstance(block_size, int) or block_size <= 0:
        raise ValueError(f"block_size={block_size!r} is not allowed; allowed: a positive integer")
    device = w.device
    n_groups = in_f // group_size
    clip_t = clip_factors(clip, (out_f, n_groups), device)
    grid = _Grid(scheme, bits, sdtype, device)

    weight = w.detach().to(torch.float32).clone()
    h = gram.detach().to(device=device, dtype=torch.float32).clone()
    dead = h.diagonal() == 0
    h.diagonal()[dead] = 1.0
    weight[:, dead] = 0.0

    scales = torch.empty(out_f, n_groups, dtype=torch.float32, device=device)
    zeros = torch.zeros(out_f, n_groups, dtype=torch.float32, device=device)
    static = act_order or group_params == "static"
    fresh = group_params == "fresh"
    if static:  # parameters from the weights before the pass, original column order
        s, z = grid.params(weight.view(out_f, n_groups, group_size), clip_t)
        scales.copy_(s)
        if z is not None:
            zeros.copy_(z)
    if act_order:
        perm = torch.argsort(h.diagonal(), descending=True)
        weight = weight[:, perm]
        h = h[perm][:, perm]
        group_of = (perm // group_size).tolist()
    else:
        perm = None
        group_of = [j // group_size for j in range(in_f)]

    hinv = _inverse_hessian_factor(h, damp, fp64_cholesky)
    del h
    codes = torch.empty(out_f, in_f, dtype=torch.uint8, device=device)
    q_all = torch.empty(out_f, in_f, dtype=torch.float32, device=device)
    loss = torch.zeros((), dtype=torch.float32, device=device)

    aligned = not static and block_size % group_size == 0
    graph = None
    if aligned and device.type == "cuda" and clip_t is None and in_f >= 2 * block_size:
        graph = _BlockGraph(out_f, block_size, grid, group_size, fresh, device)
    for i1 in range(0, in_f, block_size):
        i2 = min(i1 + block_size, in_f)
        w1 = weight[:, i1:i2].clone()
        hinv1 = hinv[i1:i2, i1:i2]
        if aligned:  # every group inside the block: the block-local loop (graphed on CUDA)
            g1, g2 = i1 // group_size, i2 // group_size
            if graph is not None and i2 - i1 == block_size:
                out = graph.run(w1, hinv1)
            else:
                out = _BlockOut.empty(out_f, i2 - i1, group_size, device)
                clip1 = None if clip_t is None else clip_t[:, g1:g2]
                _aligned_block(w1, hinv1, grid, group_size, clip1, out, fresh)
            codes[:, i1:i2], q_all[:, i1:i2] = out.codes, out.q
            scales[:, g1:g2], zeros[:, g1:g2] = out.scales, out.zeros
            loss += out.loss
            weight[:, i2:] -= out.err @ hinv[i1:i2, i2:]
            continue
        err1 = torch.zeros_like(w1)
        for i in range(i2 - i1):
            j = i1 + i
            g = group_of[j]
            if not static and j % group_size == 0:
                # the reference's moment: ``weight`` holds the block-start values (it is
                # updated only at block ends), also for the part of the group beyond this block
                cur = weight[:, j : j + group_size]
                if fresh:
                    cur = w1[:, i : i + group_size]
                    if j + group_size > i2:  # the rest of the group lies beyond this block
                        rest = (
                            weight[:, i2 : j + group_size]
                            - err1[:, :i] @ hinv[i1:j, i2 : j + group_size]
                        )
                        cur = torch.cat([cur, rest], dim=1)
                s, z = grid.params(cur, None if clip_t is None else clip_t[:, g])
                scales[:, g] = s
                if z is not None:
                    zeros[:, g] = z
            col = w1[:, i]
            c, q = grid.round(col, scales[:, g], zeros[:, g] if scheme == "int" else None)
            codes[:, j] = c.to(torch.uint8)
            q_all[:, j] = q
            d = hinv1[i, i]
            e = (col - q) / d
            loss += (e * e).sum() / 2
            w1[:, i:] -= e.unsqueeze(1) * hinv1[i, i:].unsqueeze(0)
            err1[:, i] = e
        weight[:, i2:] -= err1 @ hinv[i1:i2, i2:]

    if perm is not None:
        inv = torch.argsort(perm)
        codes, q_all = codes[:, inv], q_all[:, inv]
    qt = QTensor(
        scheme,
        bits,
        group_size,
        (out_f, in_f),
        pack(codes, bits),
        scales.to(sdtype),
        zeros.to(torch.uint8) if scheme == "int" else None,
        grid.codebook,
    )
    return GPTQResult(qt, q_all, float(loss))


def gptq_quantize(
    w: torch.Tensor,
    gram: torch.Tensor,
    bits: int,
    group_size: int = 64,
    damp: float = 0.01,
    block_size: int = 128,
    act_order: bool = False,
    scheme: str = "int",
    clip: torch.Tensor | float | None = None,
    scale_dtype: torch.dtype | str = torch.float32,
    fp64_cholesky: bool = False,
    group_params: str = "reference",
) -> QTensor:
    """GPTQ-quantize ``w`` given ``gram`` = XᵀX; the packed result of :func:`run_gptq`."""
    return run_gptq(
        w,
        gram,
        bits,
        group_size,
        damp,
        block_size,
        act_order,
        scheme,
        clip,
        scale_dtype,
        fp64_cholesky,
        group_params,
    ).qtensor


@dataclass(frozen=True)
class GPTQQuantizer(GPTQSettings):
    """GPTQ/OPTQ with the ``quant.gptq`` settings (:class:`suite.quant.config.GPTQSettings`);
    scales in ``scale_dtype``, unset: the default budget's (float16)."""

    name: ClassVar[str] = "gptq"
    # bump when its numbers change (suite.code_version); 2: group parameters at the reference
    # loop's moment, float16 scales; 3: the damping's mean rounded as the reference's
    version: ClassVar[str] = "3"

    @classmethod
    def from_spec(cls, quant: QuantSpec) -> GPTQQuantizer:
        return cls(**dataclasses.asdict(quant.gptq))

    def quantize(
        self,
        weight: torch.Tensor,
        bits: int,
        group_size: int,
        gram: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
    ) -> QTensor:
        """GPTQ of ``weight``, then ``cd_passes`` of refinement towards ``target``'s outputs
        (default ``weight``; the original weight where ``weight`` is a preprocessed copy)."""
        if gram is None:
            raise ValueError(
                "quantizer 'gptq' needs gram (H = XᵀX of the layer's calibration inputs), got None"
            )
        qt = gptq_quantize(
            weight,
            gram,
            bits,
            group_size,
            self.damp,
            self.block_size,
            self.act_order,
            self.scheme,
            None,
            stored_scale_dtype(self.scale_dtype),
            self.fp64_cholesky,
            self.group_params,
        )
        if self.cd_passes:
            from suite.quant.refine import coordinate_descent

            keep = weight if target is None else target
            qt = coordinate_descent(keep, gram, qt, self.cd_passes, self.cd_damp)
        return qt

    def dequantize(self, qt: QTensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return dequantize(qt, dtype)
