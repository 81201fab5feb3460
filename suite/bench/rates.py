"""The GPU's own ceilings, measured in the run, and the packed-kernel sweep.

``matmul_tflops`` times an 8192³ bf16 product on random data (median of repeated runs, device
events through ``triton.testing.do_bench``); ``copy_gbps`` a large device-to-device copy (bytes
read + written). ``kernel_sweep`` times, for one layer shape and several row counts, the fused
dequantize-matmul kernel, the transient-dense path (dequantize kernel + cuBLAS) and a plain bf16
cuBLAS product, forward and input-gradient, so the crossover that ``FUSED_MAX_ROWS`` encodes is a
measurement; it also reports the dequantize kernel's achieved bandwidth, as a fraction of the
copy bandwidth measured in the same run, and the fused kernel's speed-up over the dense path.
These are benchmark rows, not pass/fail checks: which path wins depends on the GPU.

All three need a CUDA device and Triton; the benchmark's ``rates`` and ``kernels`` parts run::

    rates = {"matmul_tflops": matmul_tflops("cuda"), "copy_gbps": copy_gbps("cuda")}
    sweep = kernel_sweep("cuda")  # one dict per (format, rows)
    crossover(sweep, "fwd")  # per format, the most rows at which the fused kernel won
"""

from __future__ import annotations

import torch


def _bench(fn, rep_ms: int = 100) -> float:
    """Median milliseconds of ``fn`` (device events, after warm-up)."""
    from triton.testing import do_bench

    return float(do_bench(fn, warmup=25, rep=rep_ms, return_mode="median"))


def matmul_tflops(device: str, n: int = 8192) -> float:
    """Measured dense bf16 matmul rate (TFLOP/s) on random n x n operands."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    ms = _bench(lambda: a @ b, rep_ms=300)
    return 2 * n**3 / (ms * 1e-3) / 1e12


def copy_gbps(device: str, nbytes: int = 1 << 31) -> float:
    """Measured device-to-device copy bandwidth (GB/s, bytes read plus bytes written)."""
    src = torch.empty(nbytes, dtype=torch.uint8, device=device).random_()
    dst = torch.empty_like(src)
    ms = _bench(lambda: dst.copy_(src))
    return 2 * nbytes / (ms * 1e-3) / 1e9


def _packed_layer(scheme: str, bits: int, shape: tuple[int, int], device: str):
    from suite.quant.nf import quantize_nf
    from suite.quant.qlinear import QLinear
    from suite.quant.uniform import quantize_int

    fn = quantize_nf if scheme == "nf" else quantize_int
    w = torch.randn(shape, device=device) * 0.02
    qt = fn(w, bits, 64)
    rank = 64
    return QLinear(qt, torch.zeros(rank, shape[1]), torch.zeros(shape[0], rank), 1.0).to(device)


def kernel_sweep(
    device: str,
    shape: tuple[int, int] = (11008, 4096),
    formats: tuple[tuple[str, int], ...] = (("nf", 4), ("nf", 3), ("int", 2)),
    rows: tuple[int, ...] = (1, 8, 16, 32, 64, 128, 256, 1024, 4096),
    copy_gbps: float | None = None,
) -> list[dict]:
    """Median ms per call of each path at each row count; one dict per (format, rows).
    ``fused_speedup_fwd`` is dense-path ms over fused ms (above 1: the fused kernel wins);
    ``dequant_of_copy`` the dequantize kernel's bandwidth over ``copy_gbps``."""
    from suite.quant import kernels as kn

    out_f, in_f = shape
    dense = torch.randn(shape, device=device, dtype=torch.bfloat16)
    results = []
    for scheme, bits in formats:
        p = _packed_layer(scheme, bits, shape, device).packed_args()
        args = (p.codes, p.scales, p.zeros, p.codebook, p.shape, p.bits, p.group_size)

        def deq(args=args):
            return kn.dequantize_packed(*args, torch.bfloat16)

        deq_ms = _bench(deq)
        packed_bytes = sum(
            t.numel() * t.element_size() for t in args[:4] if isinstance(t, torch.Tensor)
        )
        for m in rows:
            x = torch.randn(m, in_f, device=device, dtype=torch.bfloat16)
            g = torch.randn(m, out_f, device=device, dtype=torch.bfloat16)
            row = {
                "format": f"{scheme}{bits}",
                "shape": f"{out_f}x{in_f}",
                "rows": m,
                "fused_fwd_ms": _bench(lambda x=x, args=args: kn.fused_forward(x, *args)),
                "dequant_fwd_ms": _bench(lambda x=x: x @ deq().t()),
                "bf16_fwd_ms": _bench(lambda x=x: x @ dense.t()),
                "fused_bwd_ms": _bench(lambda g=g, args=args: kn.fused_backward(g, *args)),
                "dequant_bwd_ms": _bench(lambda g=g: g @ deq()),
                "bf16_bwd_ms": _bench(lambda g=g: g @ dense),
                "dequant_ms": deq_ms,
                "dequant_gbps": (packed_bytes + out_f * in_f * 2) / (deq_ms * 1e-3) / 1e9,
            }
            row["fused_speedup_fwd"] = row["dequant_fwd_ms"] / row["fused_fwd_ms"]
            if copy_gbps:
                row["dequant_of_copy"] = row["dequant_gbps"] / copy_gbps
            results.append(row)
            print(
                f"  {row['format']} rows={m:5d} fwd fused {row['fused_fwd_ms']:.3f} "
                f"deq+mm {row['dequant_fwd_ms']:.3f} bf16 {row['bf16_fwd_ms']:.3f} | bwd fused "
                f"{row['fused_bwd_ms']:.3f} deq+mm {row['dequant_bwd_ms']:.3f} "
                f"bf16 {row['bf16_bwd_ms']:.3f} ms",
                flush=True,
            )
    return results


def crossover(sweep: list[dict], direction: str = "fwd") -> dict[str, int]:
    """Per format, the largest row count at which the fused kernel beat the dense path."""
    best: dict[str, int] = {}
    for row in sweep:
        if row[f"fused_{direction}_ms"] <= row[f"dequant_{direction}_ms"]:
            best[row["format"]] = max(best.get(row["format"], 0), row["rows"])
        else:
            best.setdefault(row["format"], 0)
    return best
