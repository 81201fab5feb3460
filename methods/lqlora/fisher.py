"""Empirical Fisher information of the target weights, for LQ-LoRA's data-aware variant.

Guo et al. (ICLR 2024, §3.3) weight the reconstruction objective by the diagonal empirical
Fisher: F_ij = Σ_n (∂ℓ_n / ∂W_ij)², the squared gradient of the language-modelling loss of
calibration sequence n, summed over sequences (each sequence its own backward pass, as in the
released code's instance-level gradients). Choices the paper leaves open, and ours:

- Sequences: the run's calibration windows (WikiText-2 train split), ``limit`` of them when
  given; labels are the inputs (next-token loss, mean over the window's tokens).
- Precision: gradients are taken in the model's dtype and accumulated in float32 on the
  weight's device; the model is left exactly as it was (requires_grad flags restored, grads
  cleared).
- Aggregation to row/column importances (√ of the mean over the other axis, the released code's
  default) happens in :func:`methods.lqlora.decompose.factor_weights`.

    >>> import torch
    >>> from methods.lqlora.fisher import empirical_fisher
    >>> from suite import models
    >>> from suite.lora import find_targets
    >>> model, _ = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> targets = find_targets(model, ("q_proj", "v_proj"))
    >>> windows = (torch.arange(64) % 256).view(2, 32)  # two calibration windows
    >>> fisher = empirical_fisher(model, targets, windows)
    >>> f = fisher["model.layers.0.self_attn.q_proj"]
    >>> f.shape, bool((f >= 0).all() and f.sum() > 0)
    (torch.Size([128, 128]), True)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def empirical_fisher(
    model: nn.Module,
    targets: dict[str, nn.Linear],
    windows: torch.Tensor,
    limit: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, torch.Tensor]:
    """{layer name: Σ over windows of the squared gradient of the LM loss w.r.t. its weight}."""
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    was_training = model.training
    device = next(model.parameters()).device
    rows = windows if limit <= 0 else windows[:limit]
    fisher = {
        name: torch.zeros(lin.weight.shape, dtype=torch.float32, device=lin.weight.device)
        for name, lin in targets.items()
    }
    try:
        for p in params:
            p.requires_grad_(False)
        for lin in targets.values():
            lin.weight.requires_grad_(True)
        model.eval()  # no dropout: the gradient of the deterministic model
        for i, row in enumerate(rows):
            ids = row[None].to(device)
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
            grads = torch.autograd.grad(loss, [lin.weight for lin in targets.values()])
            for name, grad in zip(targets, grads, strict=True):
                fisher[name] += grad.float().square()
            if progress:
                progress(i + 1)
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
            p.grad = None
        model.train(was_training)
    return fisher
