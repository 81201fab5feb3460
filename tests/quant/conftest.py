"""Shared inputs for the quantizer tests: correlated calibration features and weights."""

from __future__ import annotations

import pytest
import torch


def correlated_inputs(n: int, d_in: int, rank: int, seed: int) -> torch.Tensor:
    """X = Z @ M + small noise: strongly correlated input features, like a layer's inputs."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, rank, generator=gen)
    m = torch.randn(rank, d_in, generator=gen)
    return z @ m + 0.1 * torch.randn(n, d_in, generator=gen)


def decaying_inputs(n: int, d_in: int, seed: int) -> torch.Tensor:
    """Inputs whose covariance spectrum decays over three decades (as in LLM activations)."""
    gen = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(d_in, d_in, generator=gen))[0]
    return (torch.randn(n, d_in, generator=gen) * torch.logspace(0, -3, d_in)) @ basis.T


def out_err(x: torch.Tensor, w: torch.Tensor, q: torch.Tensor) -> float:
    """Relative calibrated output error ‖X(W − Q)ᵀ‖ / ‖XWᵀ‖."""
    return float((x @ (w - q).T).norm() / (x @ w.T).norm())


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """These matrices are small: every test here runs on one thread (tests/conftest.py)."""
    yield


@pytest.fixture(scope="module")
def layer() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(X, H = XᵀX, W) for a 64 x 256 layer with correlated inputs."""
    x = correlated_inputs(2048, 256, 64, seed=0)
    w = torch.randn(64, 256, generator=torch.Generator().manual_seed(1))
    return x, x.T @ x, w
