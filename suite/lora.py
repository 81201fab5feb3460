"""LoRA conventions shared by every method: target layers, scaling, standard init, Prepared.

The scaling s = lora_alpha / rank multiplies B @ A in every forward pass, so an initializer that
wants the adapter to add a correction C must set B @ A = C / s (``split_correction`` does this).

    >>> import torch
    >>> from torch import nn
    >>> from suite.lora import find_targets, split_correction
    >>> attn = nn.ModuleDict({name: nn.Linear(16, 16) for name in ("q_proj", "v_proj", "o_proj")})
    >>> model = nn.ModuleDict({"self_attn": attn})
    >>> list(find_targets(model, ("q_proj", "v_proj")))  # {name: nn.Linear} in model order
    ['self_attn.q_proj', 'self_attn.v_proj']
    >>> _ = torch.manual_seed(0)
    >>> c = torch.randn(16, 4) @ torch.randn(4, 16)  # a rank-4 correction of a 16x16 layer
    >>> a, b = split_correction(c, rank=4, scaling=0.5)
    >>> a.shape, b.shape, torch.allclose(0.5 * b @ a, c, atol=1e-5)
    (torch.Size([4, 16]), torch.Size([16, 4]), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from suite.quant.qlinear import QLinear
from suite.spec import Budget, SpecError


@dataclass
class Prepared:
    """A model with a frozen base and trainable LoRA A/B on every target layer."""

    model: nn.Module
    storage: str  # "packed" (real packed codes) | "dense" (an unquantized base)
    quantizer: str  # the quantizer used for the base, or "none"
    info: dict[str, Any] = field(default_factory=dict)  # method-specific record

    def layers(self) -> dict[str, QLinear]:
        return {n: m for n, m in self.model.named_modules() if isinstance(m, QLinear)}


def find_targets(model: nn.Module, target_modules: tuple[str, ...]) -> dict[str, nn.Linear]:
    """Every nn.Linear whose last name part is in ``target_modules``, in model order."""
    found = {
        name: mod
        for name, mod in model.named_modules()
        if isinstance(mod, nn.Linear) and name.rsplit(".", 1)[-1] in target_modules
    }
    if not found:
        raise SpecError(
            f"no layer matches target_modules {','.join(target_modules)}; "
            "allowed: names of linear sublayers such as q_proj, v_proj, down_proj"
        )
    return found


def check_layers(shapes: dict[str, tuple[int, int]], budget: Budget, model: str) -> None:
    """Fail before any work where the budget cannot apply to the model's layers: a target name
    that is not one of its linear sublayers, a rank above a target weight's smaller side, or a
    group size that does not divide a target layer's input width.

    ``shapes`` maps a sublayer name (q_proj, down_proj, ...) to its (input, output) width.
    """
    unknown = [n for n in budget.target_modules if n not in shapes]
    if unknown:
        raise SpecError(
            f"target module '{unknown[0]}' is not a linear sublayer of {model}; allowed: "
            + ", ".join(shapes)
        )
    used = {n: shapes[n] for n in budget.target_modules}
    name, (inp, out) = min(used.items(), key=lambda item: min(item[1]))
    if budget.rank > min(inp, out):
        raise SpecError(
            f"rank {budget.rank} is larger than {name}'s {out}x{inp} weight in {model}; "
            f"allowed: a rank of at most {min(inp, out)} for these target modules"
        )
    for name, (width, _) in used.items():
        if width % budget.group_size:
            common = math.gcd(*(w for w, _ in used.values()))
            ok = [g for g in (16, 32, 64, 128, 256) if common % g == 0]
            raise SpecError(
                f"group size {budget.group_size} does not divide the input width {width} of "
                f"{name}; allowed: divisors of {common} (e.g. {', '.join(map(str, ok)) or common})"
            )


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def standard_init(
    out_features: int, in_features: int, rank: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """LoRA's usual start: A Kaiming-uniform (a = √5, as nn.Linear and peft), B = 0."""
    bound = 1.0 / math.sqrt(in_features)  # kaiming_uniform_ with a=sqrt(5) gives 1/sqrt(fan_in)
    a = (torch.rand(rank, in_features, generator=generator) * 2 - 1) * bound
    return a, torch.zeros(out_features, rank)


def low_rank(m: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(left (p, r), right (r, q)), float64, with left @ right = SVD_r(m), the best rank-r part.

    Computed from the eigenvectors of the smaller Gram matrix (mᵀm or mmᵀ, float64): SVD_r(m) is m
    projected on its top-r right (or left) singular vectors. One symmetric eigendecomposition of
    min(p, q)² is far cheaper than a full SVD at 7B scale (GPU SVD solvers are slow), and in
    float64 the top-r subspace, and with it the captured energy, matches the SVD's to rounding.
    """
    m = m.double()
    r = min(rank, *m.shape)
    if m.shape[0] >= m.shape[1]:
        v = torch.linalg.eigh(m.T @ m).eigenvectors[:, -r:].flip(-1)  # top-r right vectors
        return m @ v, v.T
    u = torch.linalg.eigh(m @ m.T).eigenvectors[:, -r:].flip(-1)  # top-r left vectors
    return u, u.T @ m


def split_correction(
    correction: torch.Tensor, rank: int, scaling: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """A, B with s·B@A the best rank-r approximation of ``correction`` (balanced SVD factors)."""
    return split_factors(*low_rank(correction, rank), scaling)


def split_factors(
    left: torch.Tensor, right: torch.Tensor, scaling: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """A, B with s·B@A = ``left @ right`` exactly, balanced like ``split_correction``.

    For a correction already held as factors (m×r and r×n): the SVD of the product is taken through
    two thin QR factorizations and an r×r SVD, never forming the m×n product.
    """
    q1, r1 = torch.linalg.qr(left.double())
    q2, r2 = torch.linalg.qr(right.double().T)
    u, sv, vh = torch.linalg.svd(r1 @ r2.T)
    root = (sv / scaling).sqrt()
    b = (q1 @ u) * root
    a = root[:, None] * (vh @ q2.T)
    return a.float(), b.float()


def replace_targets(
    model: nn.Module,
    budget: Budget,
    build: Callable[[str, nn.Linear], QLinear],
    progress: Callable[[str], None] | None = None,
) -> dict[str, QLinear]:
    """Swap every target nn.Linear for ``build(name, linear)``; the base weights stay frozen."""
    for p in model.parameters():
        p.requires_grad_(False)
    out: dict[str, QLinear] = {}
    for name, linear in find_targets(model, budget.target_modules).items():
        layer = build(name, linear)
        set_module(model, name, layer)
        out[name] = layer
        if progress:
            progress(name)
    return out
