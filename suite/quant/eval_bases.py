"""How the frozen bases are read while a model is evaluated: dense copies, or measured kernels.

:func:`evaluation_bases` is what the harness wraps evaluation in. Inside it every QLinear keeps
its LoRA factors in the compute dtype (:func:`suite.quant.qlinear.dense_bases`), and the packed
CUDA bases are read one of two ways:

- ``dense``: where dense bf16 copies of the packed CUDA bases fit in ``share`` of the free GPU
  memory, each base is dequantized once and multiplied by cuBLAS. The copy is bit-identical to
  the weight the packed kernels rebuild, so this is the same model: the products differ from the
  fused kernel's only in the order of the float32 sums (tests/quant/test_kernels_gpu.py bounds
  the difference at a relative 1e-2, bf16's rounding) and equal the dequantize-then-GEMM path's.
- ``packed``: otherwise the packed kernels run, and :func:`measured_kernels` picks for each
  packed layout (shape, scheme, bits, group size) the faster of the fused kernel and the
  dequantize-then-GEMM path at the decoding batch's row count, by timing both on the layer's own
  buffers (CUDA events, median after warm-up).

On the CPU the packed bases are always dequantized once (a CPU matmul on a dense base is the
only path there), so ``mode`` is ``dense`` whenever no packed base is on CUDA.

    >>> import torch
    >>> from suite.quant.nf import quantize_nf
    >>> from suite.quant.qlinear import QLinear
    >>> layer = QLinear(quantize_nf(torch.randn(32, 64), 4, 64), torch.zeros(4, 64),
    ...                 torch.zeros(32, 4), 1.0)
    >>> with evaluation_bases(torch.nn.Sequential(layer), rows=8) as mode:
    ...     print(mode, "_dense_base" in layer.__dict__)
    dense True
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from suite.quant.qlinear import QLinear, dense_base_bytes, dense_bases


def _packed_cuda_layers(model: nn.Module) -> list[QLinear]:
    return [
        m
        for m in model.modules()
        if isinstance(m, QLinear) and m.weight_is_cuda() and m.packed_args() is not None
    ]


def dense_fits(model: nn.Module, share: float = 0.5) -> bool:
    """Whether bf16 copies of the packed CUDA bases take at most ``share`` of free GPU memory."""
    need = dense_base_bytes(model)
    if need == 0:
        return True
    # the bases counted are on the GPU (packed or not), so some tensor of the model is too
    device = next(t.device for t in (*model.parameters(), *model.buffers()) if t.is_cuda)
    return need <= share * torch.cuda.mem_get_info(device)[0]


def _median_ms(fn, reps: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def time_paths(layer: QLinear, rows: int, reps: int = 20) -> dict[str, float]:
    """Median ms of the fused kernel and of dequantize-then-GEMM for ``rows`` bf16 rows."""
    from suite.quant.packed_linear import packed_product

    packed = layer.packed_args()
    x = torch.randn(rows, layer.in_features, device=packed.codes.device, dtype=torch.bfloat16)
    with torch.inference_mode():
        return {
            "fused_ms": _median_ms(lambda: packed_product(x, packed, True), reps),
            "dequant_ms": _median_ms(lambda: packed_product(x, packed, False), reps),
        }


def layout(layer: QLinear) -> str:
    meta = layer._qmeta or {}
    shape = f"{layer.out_features}x{layer.in_features}"
    return f"{meta.get('scheme')}{meta.get('bits')}/g{meta.get('group_size')} {shape}"


@contextmanager
def measured_kernels(model: nn.Module, rows: int) -> Iterator[dict[str, dict[str, Any]]]:
    """While active, each packed CUDA QLinear takes the faster path at ``rows`` rows: its
    ``fused_max_rows`` becomes ``rows`` where the fused kernel won, else 0 (larger calls, such as
    the prompts' pass, keep the dense path). Yields {layout: timings and choice}; the layers'
    own settings come back afterwards."""
    layers = _packed_cuda_layers(model)
    choices: dict[str, dict[str, Any]] = {}
    for layer in layers:
        key = layout(layer)
        if key not in choices:
            timed = time_paths(layer, rows)
            fused = timed["fused_ms"] <= timed["dequant_ms"]
            choices[key] = {**timed, "rows": rows, "choice": "fused" if fused else "dequant"}
    before = [(m.kernel_policy, m.fused_max_rows) for m in layers]
    try:
        for layer in layers:
            layer.kernel_policy = "auto"
            layer.fused_max_rows = rows if choices[layout(layer)]["choice"] == "fused" else 0
        yield choices
    finally:
        for layer, (policy, most) in zip(layers, before, strict=True):
            layer.kernel_policy, layer.fused_max_rows = policy, most


@contextmanager
def evaluation_bases(model: nn.Module, rows: int, share: float = 0.5) -> Iterator[str]:
    """The harness's evaluation block (see the module doc); yields ``dense`` or ``packed``."""
    dense = dense_fits(model, share)
    with ExitStack() as stack:
        stack.enter_context(dense_bases(model, cuda=dense))
        if not dense:
            stack.enter_context(measured_kernels(model, rows))
        yield "dense" if dense else "packed"
