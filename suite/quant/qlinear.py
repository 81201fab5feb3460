"""QLinear: a frozen base weight (packed low-bit, or dense) plus trainable LoRA A and B.

forward(x) = x @ Wᵀ + bias + s · dropout(x) @ Aᵀ @ Bᵀ, with W the dequantized base. The base is
held as buffers (packed codes, scales, zeros, code book), never as parameters, so gradients
reach only A and B; the dequantized weight is made per forward and not kept between steps.

On CUDA a packed base (2, 3 or 4 bits, NF or INT, group size a multiple of 32) goes through
:func:`suite.quant.packed_linear.packed_matmul`: Triton kernels read these same buffers in place
(fused dequantize-matmul for few rows, a transient dense buffer + cuBLAS for many; see that
module), under autocast in the autocast dtype. ``kernel_policy`` ("auto", "fused", "dequant")
picks the kernel per layer. On CUDA the adapter's scaled product is added inside the GEMM
(``addmm_`` with alpha = s) instead of by two elementwise passes over the output. On the CPU the
reference path (dequantize, matmul, add) runs unchanged. For evaluation, :func:`dense_bases`
lets the layers dequantize once instead of at every decoding step (the CPU layers always, the
CUDA layers when asked) and keeps the adapter's factors in the compute dtype.

    >>> import torch
    >>> from suite.quant.nf import quantize_nf
    >>> _ = torch.manual_seed(0)
    >>> a, b = torch.randn(8, 64) * 0.01, torch.zeros(32, 8)  # LoRA's usual start, B = 0
    >>> layer = QLinear(quantize_nf(torch.randn(32, 64), 4, 64), a, b, scaling=2.0)
    >>> x = torch.randn(3, 64)
    >>> y = layer(x)
    >>> y.shape, torch.allclose(y, x @ layer.base_weight().T)
    (torch.Size([3, 32]), True)
    >>> [name for name, p in layer.named_parameters() if p.requires_grad]
    ['lora_A', 'lora_B']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from suite.quant.packed_linear import (
    FUSED_MAX_ROWS,
    PackedArgs,
    kernel_supports,
    triton_available,
)
from suite.quant.qtensor import QTensor, dequantize

_QT_FIELDS = ("codes", "scales", "zeros", "codebook")


class QLinear(nn.Module):
    """A linear layer with a frozen (quantized or dense) base and a LoRA adapter."""

    def __init__(
        self,
        base: QTensor | torch.Tensor,
        lora_A: torch.Tensor,
        lora_B: torch.Tensor,
        scaling: float,
        bias: torch.Tensor | None = None,
        storage: str | None = None,
    ) -> None:
        super().__init__()
        if isinstance(base, QTensor):
            self.out_features, self.in_features = base.shape
            self._qmeta = base.meta()
            for key, tensor in base.state_dict().items():
                self.register_buffer(f"q_{key}", tensor)
            self.storage = storage or "packed"
        else:
            self.out_features, self.in_features = base.shape
            self._qmeta = None
            self.register_buffer("weight", base.detach().clone())
            self.storage = storage or "dense"
        rank = lora_A.shape[0]
        if lora_A.shape != (rank, self.in_features) or lora_B.shape != (self.out_features, rank):
            raise ValueError(
                f"LoRA shapes A{tuple(lora_A.shape)} B{tuple(lora_B.shape)} do not fit a "
                f"{self.out_features}x{self.in_features} layer"
            )
        device = base.device  # the adapter lives where the base does
        self.lora_A = nn.Parameter(lora_A.detach().clone().float().to(device))
        self.lora_B = nn.Parameter(lora_B.detach().clone().float().to(device))
        self.scaling = float(scaling)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), False)
        self.dropout = 0.0
        self.kernel_policy = "auto"
        self.fused_max_rows = FUSED_MAX_ROWS

    @property
    def rank(self) -> int:
        return self.lora_A.shape[0]

    def qtensor(self) -> QTensor | None:
        """The packed base as a QTensor (sharing this module's buffers), or None if dense."""
        if self._qmeta is None:
            return None
        tensors = {
            name[2:]: buf for name, buf in self.named_buffers(recurse=False) if name[:2] == "q_"
        }
        return QTensor.from_state(self._qmeta, tensors)

    def base_weight(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The base weight W as a dense tensor (dequantized for a packed base)."""
        qt = self.qtensor()
        if qt is None:
            return self.weight.to(dtype)
        return dequantize(qt, dtype)

    def delta(self) -> torch.Tensor:
        """The adapter's dense contribution s · B @ A (float32)."""
        return self.scaling * (self.lora_B.float() @ self.lora_A.float())

    def packed_args(self) -> PackedArgs | None:
        """The packed base as the CUDA kernels read it, or None where they do not apply.

        Cached per module (rebuilt when the buffers are replaced, e.g. by ``.to(device)``).
        """
        cached = self.__dict__.get("_packed_cache")
        codes = self._buffers.get("q_codes")
        if cached is not None and cached[0] is codes:
            return cached[1] if cached[1] is None else self._with_scales(cached[1])
        meta, packed = self._qmeta, None
        shape = (self.out_features, self.in_features)
        if (
            meta is not None
            and kernel_supports(meta["scheme"], meta["bits"], meta["group_size"], shape)
            and triton_available()
        ):
            packed = PackedArgs(
                self.q_codes,
                getattr(self, "q_scales", None),
                getattr(self, "q_zeros", None),
                getattr(self, "q_codebook", None),
                shape,
                meta["bits"],
                meta["group_size"],
            )
        self.__dict__["_packed_cache"] = (codes, packed)
        return packed if packed is None else self._with_scales(packed)

    def _with_scales(self, packed: PackedArgs) -> PackedArgs:
        """Double-quantized scales are expanded per call (transient, like the dense weight),
        from a QTensor view of the buffers made once (rebuilt when the buffers are replaced)."""
        if packed.scales is not None:
            return packed
        codes = self._buffers.get("q_codes")
        cached = self.__dict__.get("_qt_cache")
        if cached is None or cached[0] is not codes:
            cached = (codes, self.qtensor())
            self.__dict__["_qt_cache"] = cached
        return dataclasses.replace(packed, scales=cached[1].group_scales())

    def _lora_factors(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """A and B in ``dtype``: cast per forward, or once inside :func:`dense_bases`."""
        if "_eval_lora" not in self.__dict__:
            return self.lora_A.to(dtype), self.lora_B.to(dtype)
        cached = self.__dict__["_eval_lora"]
        if cached is None or cached[0].dtype != dtype:
            with torch.no_grad():
                cached = (self.lora_A.to(dtype), self.lora_B.to(dtype))
            self.__dict__["_eval_lora"] = cached
        return cached

    def _add_lora(self, y: torch.Tensor, x2: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``y + bias + s · dropout(x) Aᵀ Bᵀ`` for 2-D y and x; s and the sum go into the GEMM."""
        if self.bias is not None:
            y = y + self.bias.to(dtype)
        h = F.dropout(x2, self.dropout, self.training) if self.dropout else x2
        a, b = self._lora_factors(dtype)
        return y.addmm_(h @ a.t(), b.t(), alpha=self.scaling)

    def _cuda_forward(self, x: torch.Tensor) -> torch.Tensor:
        from suite.quant.packed_linear import packed_matmul

        autocast = torch.is_autocast_enabled("cuda")
        dtype = torch.get_autocast_dtype("cuda") if autocast else x.dtype
        x2 = x.reshape(-1, self.in_features).to(dtype)
        # inside dense_bases the packed arguments are not built at all: for double-quantized
        # scales that would expand them (and copy their code table to the device) every call
        packed = None if "_dense_base" in self.__dict__ else self.packed_args()
        if packed is not None:
            y = packed_matmul(x2, packed, self.kernel_policy, self.fused_max_rows)
        else:
            y = x2 @ self._frozen_base(dtype).t()
        return self._add_lora(y, x2, dtype).view(*x.shape[:-1], self.out_features)

    def _dequantized(self, dtype: torch.dtype) -> torch.Tensor:
        """The dense base in ``dtype``; on CUDA by the dequantize kernel (bit-identical to
        :meth:`base_weight`, and the weight the dequantize-then-GEMM path multiplies by)."""
        packed = self.packed_args() if self.weight_is_cuda() else None
        with torch.no_grad():
            if packed is None:
                return self.base_weight(dtype)
            from suite.quant.packed_linear import dense_weight

            return dense_weight(packed, dtype)

    def weight_is_cuda(self) -> bool:
        store = self._buffers.get("q_codes")
        return (store if store is not None else self.weight).is_cuda

    def _frozen_base(self, dtype: torch.dtype) -> torch.Tensor:
        """The dense base: made per forward, or once inside :func:`dense_bases`."""
        if "_dense_base" not in self.__dict__:
            return self._dequantized(dtype)
        cached = self.__dict__["_dense_base"]
        if cached is None or cached.dtype != dtype:
            cached = self._dequantized(dtype)
            self.__dict__["_dense_base"] = cached
        return cached

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda:
            return self._cuda_forward(x)
        w = self._frozen_base(x.dtype)
        y = F.linear(x, w, None if self.bias is None else self.bias.to(x.dtype))
        h = F.dropout(x, self.dropout, self.training) if self.dropout else x
        a, b = self._lora_factors(x.dtype)
        return y + self.scaling * F.linear(F.linear(h, a), b)

    def base_bytes(self) -> int:
        """Real storage of the frozen base in bytes (packed codes, scales, zeros, code book)."""
        qt = self.qtensor()
        if qt is None:
            return self.weight.numel() * self.weight.element_size()
        return qt.nbytes()

    def accounted_bytes(self) -> int:
        """The base's bytes under :mod:`suite.budget`'s accounting (code books aside)."""
        qt = self.qtensor()
        if qt is None:
            return self.weight.numel() * self.weight.element_size()
        return qt.accounted_nbytes()

    def adapter_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in (self.lora_A, self.lora_B))

    def effective_bits(self) -> float:
        """Bits per base weight under the one accounting (scales, zeros; code books aside)."""
        return 8.0 * self.accounted_bytes() / (self.out_features * self.in_features)

    def extra_repr(self) -> str:
        meta = self._qmeta
        bits = "dense" if meta is None else f"{meta['scheme']}{meta['bits']}"
        if meta is not None and "dq" in meta:
            bits += "-dq"
        return (
            f"in={self.in_features}, out={self.out_features}, base={bits}, rank={self.rank}, "
            f"scaling={self.scaling:g}"
        )


@contextmanager
def dense_bases(model: nn.Module, cuda: bool = False) -> Iterator[None]:
    """While active, each packed QLinear of ``model`` dequantizes its frozen base once: the CPU
    layers always, the CUDA layers when ``cuda`` is set; and every QLinear keeps its A and B
    cast to the compute dtype instead of casting them at every forward.

    For evaluation (the adapter must not change while the block runs): a decoding step feeds a
    few tokens through every layer, and dequantizing each base per step would cost more than
    the matmul. A CUDA layer's dense copy is the weight its dequantize-then-GEMM path multiplies
    by (bit-identical, :func:`suite.quant.kernels.dequantize_packed`); its products then differ
    from the fused kernel's only in the order of the float32 sums (tests/quant/test_kernels_gpu.py
    bounds the difference). Memory: one dense copy of the packed targets' weights while the
    block runs (counted in the phase's peak; on CUDA, bf16: 2 bytes per weight). Nothing stays
    behind afterwards.
    """
    layers = [m for m in model.modules() if isinstance(m, QLinear)]
    dense = [m for m in layers if m.qtensor() is not None and (cuda or not m.weight_is_cuda())]
    for layer in dense:
        layer.__dict__["_dense_base"] = None
    for layer in layers:
        layer.__dict__["_eval_lora"] = None
    try:
        yield
    finally:
        for layer in dense:
            layer.__dict__.pop("_dense_base", None)
        for layer in layers:
            layer.__dict__.pop("_eval_lora", None)


def dense_base_bytes(model: nn.Module, itemsize: int = 2) -> int:
    """Bytes that dense copies of the packed CUDA bases of ``model`` take (bf16: 2 per weight)."""
    return sum(
        m.out_features * m.in_features * itemsize
        for m in model.modules()
        if isinstance(m, QLinear) and m.qtensor() is not None and m.weight_is_cuda()
    )
