"""Coordinate-descent refinement of a quantized weight on its own grid (after GPTQ).

The MagR authors' GPTQ (AozhongZhang/MagR, ``optq.py``) refines GPTQ's result by cyclic
coordinate descent: column by column, each weight is moved to the grid point that minimises the
damped output error

    f(Q) = tr((W − Q) (H + λI) (W − Q)ᵀ),      λ = ``damp`` · mean(diag H),

with every other column fixed (their script: 30 passes at 2 bits, 1 at 3 and 4 bits;
λ = 0.75 · mean(diag H)). For one column j the objective is, row by row, a convex quadratic in
q_j with its minimum at ``u = Q_j + R_j / (H_jj + λ)``, R = (W − Q)(H + λI); the nearest grid
point to u is the best grid point, and the current value is a grid point, so no step increases
f. With ``damp = 0``, f is the layer's output error ‖X(W − Q)ᵀ‖² on the calibration inputs.

Choices, and where they differ from the authors' code:

- The grid is the QTensor's own (its stored scales and zeros, or absmax and code book): only
  codes change, so the refined weight is exactly what the packed tensor stores. The authors
  re-fit each group's min-max from the current quantized values when the group starts, which
  gives the same grid whenever a group uses both end codes.
- The authors divide by H_jj + λ + 0.1 (an absolute 0.1, next to a diagonal that sums over all
  calibration tokens); that term is left out, so each step is the exact coordinate minimiser.
- Columns whose damped diagonal is 0 (dead inputs with ``damp = 0``) are left as they are.
- Arithmetic is float64 (R and the steps); grid values are computed as the QTensor dequantizes.

    >>> import torch
    >>> from suite.quant.gptq import gptq_quantize
    >>> from suite.quant.qtensor import dequantize
    >>> from suite.quant.refine import coordinate_descent
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(512, 64) @ torch.randn(64, 128)
    >>> w, h = torch.randn(32, 128), x.T @ x
    >>> qt = gptq_quantize(w, h, bits=2, group_size=64)
    >>> refined = coordinate_descent(w, h, qt, passes=5, damp=0.0)
    >>> def out_err(q):
    ...     return ((x @ (w - dequantize(q)).T).norm() / (x @ w.T).norm()).item()
    >>> out_err(refined) <= out_err(qt)
    True
"""

from __future__ import annotations

import torch

from suite.quant.nf import nf_codes
from suite.quant.packing import pack
from suite.quant.qtensor import QTensor, dequantize
from suite.quant.uniform import int_codes, int_values


def _round_column(qt: QTensor, j: int, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes, values) of the grid point nearest to ``u`` in column ``j``'s groups."""
    g = j // qt.group_size
    scale = qt.scales[:, g].to(torch.float32)
    if qt.scheme == "nf":
        codes = nf_codes(u.to(torch.float32), scale, qt.codebook)
        return codes, qt.codebook[codes] * scale
    zero = qt.zeros[:, g].to(torch.float32)
    codes = int_codes(u, scale.double(), zero.double(), qt.bits)
    return codes.long(), int_values(codes, scale, zero)


def damped_objective(w: torch.Tensor, q: torch.Tensor, gram: torch.Tensor, damp: float) -> float:
    """tr((W − Q)(H + λI)(W − Q)ᵀ) with λ = damp · mean(diag H), in float64."""
    e = w.detach().double() - q.detach().double()
    h = gram.detach().to(device=e.device, dtype=torch.float64)
    lam = damp * h.diagonal().mean()
    return float(((e @ h) * e).sum() + lam * (e * e).sum())


def coordinate_descent(
    w: torch.Tensor, gram: torch.Tensor, qt: QTensor, passes: int, damp: float = 0.75
) -> QTensor:
    """``qt`` with its codes refined by ``passes`` cyclic passes; see the module docs.

    ``w`` (out, in) is the weight whose outputs the refinement keeps (the original weight, also
    where ``qt`` was quantized from a preprocessed copy); ``gram`` is H = XᵀX (in, in).
    """
    if not isinstance(passes, int) or passes < 0:
        raise ValueError(f"passes={passes!r} is not allowed; allowed: an integer >= 0")
    if not damp >= 0:
        raise ValueError(f"damp={damp!r} is not allowed; allowed: a number >= 0")
    out_f, in_f = qt.shape
    if tuple(w.shape) != (out_f, in_f) or tuple(gram.shape) != (in_f, in_f):
        raise ValueError(
            f"w {tuple(w.shape)} and gram {tuple(gram.shape)} do not fit a {out_f}x{in_f} QTensor"
        )
    if passes == 0:
        return qt
    device = qt.device
    target = w.detach().to(device=device, dtype=torch.float64)
    h = gram.detach().to(device=device, dtype=torch.float64)
    h.diagonal().add_(damp * h.diagonal().mean())
    diag = h.diagonal().tolist()
    q = dequantize(qt).double()
    codes = qt.unpacked_codes().long()
    resid = (target - q) @ h  # R = (W − Q)(H + λI)
    for _ in range(passes):
        for j in range(in_f):
            if diag[j] <= 0:
                continue
            u = q[:, j] + resid[:, j] / diag[j]
            c, v = _round_column(qt, j, u)
            step = v.double() - q[:, j]
            if not bool(step.any()):
                continue
            codes[:, j] = c
            q[:, j] = v.double()
            resid -= step.unsqueeze(1) * h[j].unsqueeze(0)
    return QTensor(
        qt.scheme,
        qt.bits,
        qt.group_size,
        qt.shape,
        pack(codes.to(torch.uint8).reshape(-1), qt.bits),
        qt.scales,
        qt.zeros,
        qt.codebook,
    )
