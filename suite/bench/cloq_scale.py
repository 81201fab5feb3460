"""CLoQ's prepare at 7B, block by block on the GPU: GPTQ + the closed-form LoRA init per layer.

What this measures, and what it does not: the calibrator (suite/calibration.py) is not part of
this branch, so the Gram matrices here are those of *synthetic activations* (seeded Gaussian
features with a decaying per-feature scale, ``n_tokens`` of them, e.g. 128 x 2048), built in
chunks on the GPU, one per distinct layer input of a block (q/k/v share one, gate/up share one,
o_proj and down_proj have their own), exactly as many and as large as the real calibrator's. The
real calibrator also runs each block forward twice over the calibration tokens (quantized path
and full-precision targets), which this stand-in does not. Per layer:

1. GPTQ (:func:`suite.quant.gptq.run_gptq`, INT-k asymmetric, group 64) with that Gram matrix;
2. CLoQ's init: with RᵀR = H + λ·mean(diag H)·I (upper Cholesky factor R), the rank-r
   correction L = R⁻¹ · SVD_r(R (W − Q)ᵀ) minimises ‖X(W − Q − Lᵀ)ᵀ‖; here SVD_r is a
   randomized SVD (``torch.svd_lowrank``, r + 16 columns, 4 power iterations) rather than an
   exact one; s·B·A = Lᵀ with balanced factors;
3. the nn.Linear is replaced by a packed QLinear, so the bf16 weight is freed as the walk goes.

Memory stays bounded by the model plus one block's Grams and one layer's GPTQ state.

    >>> # stats = cloq_prepare(model, bits=2, group_size=64, rank=64, alpha=16, n_tokens=262144)
"""

from __future__ import annotations

import math
import time

import torch

BLOCK_INPUTS = {
    "attn": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    "attn_out": ("self_attn.o_proj",),
    "mlp": ("mlp.gate_proj", "mlp.up_proj"),
    "mlp_out": ("mlp.down_proj",),
}


def synthetic_gram(
    width: int, n_tokens: int, seed: int, device: str, chunk: int = 8192
) -> torch.Tensor:
    """H = XᵀX (float32) of ``n_tokens`` seeded activations with a decaying feature scale."""
    gen = torch.Generator(device=device).manual_seed(seed)
    scale = torch.logspace(0, -2, width, device=device, dtype=torch.bfloat16)
    h = torch.zeros(width, width, device=device, dtype=torch.float32)
    for start in range(0, n_tokens, chunk):
        rows = min(chunk, n_tokens - start)
        x = torch.randn(rows, width, generator=gen, device=device, dtype=torch.bfloat16) * scale
        h += (x.t() @ x).float()
    return h


def cloq_init(
    w: torch.Tensor, q: torch.Tensor, gram: torch.Tensor, rank: int, scaling: float, damp=0.01
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(A, B, calibrated error ratio) of CLoQ's closed form; the ratio is after / before."""
    hd = gram.clone()
    hd.diagonal().add_(damp * hd.diagonal().mean())
    r_up = torch.linalg.cholesky(hd, upper=True)  # RᵀR = H + damping
    del hd
    m = r_up @ (w - q).t()  # (in, out)
    u, s, v = torch.svd_lowrank(m, q=rank + 16, niter=4)
    u, s, v = u[:, :rank], s[:rank], v[:, :rank]
    root = s.sqrt()
    left = torch.linalg.solve_triangular(r_up, u * root, upper=True)  # R⁻¹ U √S
    b = v * root / math.sqrt(scaling)
    a = left.t() / math.sqrt(scaling)
    before = m.norm()
    after = (m - r_up @ (scaling * b @ a).t()).norm()
    return a, b, float(after / before)


def cloq_prepare(
    model: torch.nn.Module,
    bits: int,
    group_size: int,
    rank: int,
    alpha: float,
    n_tokens: int,
    say=print,
) -> dict:
    """Quantize every Llama block's seven linears with GPTQ + CLoQ init, in place."""
    from suite.lora import set_module
    from suite.measure import sync
    from suite.quant.gptq import run_gptq
    from suite.quant.qlinear import QLinear

    scaling = alpha / rank
    device = str(next(model.parameters()).device)
    blocks = model.model.layers
    for p in model.parameters():
        p.requires_grad_(False)
    gram_s = gptq_s = init_s = 0.0
    ratios = []
    for i, block in enumerate(blocks):
        t_block = time.perf_counter()
        for j, names in enumerate(BLOCK_INPUTS.values()):
            width = block.get_submodule(names[0]).in_features
            t0 = time.perf_counter()
            gram = synthetic_gram(width, n_tokens, seed=1000 * i + j, device=device)
            sync(device)
            gram_s += time.perf_counter() - t0
            for name in names:
                linear = block.get_submodule(name)
                w = linear.weight.detach().float()
                t0 = time.perf_counter()
                res = run_gptq(w, gram, bits, group_size, scheme="int")
                sync(device)
                gptq_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                a, b, ratio = cloq_init(w, res.weight, gram, rank, scaling)
                sync(device)
                init_s += time.perf_counter() - t0
                ratios.append(ratio)
                set_module(block, name, QLinear(res.qtensor, a, b, scaling, linear.bias))
                del w, res, linear
            del gram
        if i == 0 or (i + 1) % 8 == 0:
            say(
                f"  block {i + 1}/{len(blocks)}: {time.perf_counter() - t_block:.1f} s, "
                f"allocated {torch.cuda.memory_allocated() / 2**30:.1f} GiB (CUDA), "
                f"CLoQ calibrated-error ratio {ratios[-1]:.3f}"
            )
    return {
        "gram_s": gram_s,
        "gptq_s": gptq_s,
        "cloq_init_s": init_s,
        "calib_err_ratio_mean": sum(ratios) / len(ratios),
        "layers": len(ratios),
    }
