"""bitsandbytes' Linear4bit (NF4) as the QLoRA reference backend, with qbench's LoRA path.

The base is bitsandbytes' own packed NF4 weight and kernels (block 64, absmax double-quantized
with ``compress_statistics=True`` as QLoRA does, or float32 absmax without; matching
``suite.quant.nf`` with ``dq=BNB_DQ`` or float32 scales), so a run with
``method.qlora.backend=bnb`` measures the community's reference implementation under the same
harness. The adapter is the same as
QLinear's. On CPUs with avx512_bf16, bitsandbytes repacks 4-bit weights during an eval-mode
forward, after which no gradient flows through them; that repacking is switched off here.

A target ``nn.Linear`` becomes a :class:`BnbQLinear` with the given adapter (``budget.bits`` must
be 4, and bitsandbytes installed)::

    a, b = standard_init(linear.out_features, linear.in_features, budget.rank, generator)
    layer = bnb_layer(linear, a, b, budget)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from suite.quant.qlinear import QLinear
from suite.spec import Budget, SpecError


def _bnb():
    try:
        import bitsandbytes as bnb
    except ImportError:
        raise SpecError(
            "method.qlora.backend=bnb needs bitsandbytes; allowed: install it "
            "(pip install -e '.[bnb]') or use backend=native"
        ) from None
    return bnb


class BnbQLinear(QLinear):
    """A LoRA layer whose frozen base is a bitsandbytes Linear4bit (NF4)."""

    def __init__(
        self,
        linear: nn.Linear,
        lora_A,
        lora_B,
        scaling: float,
        block: int,
        double_quant: bool = True,
    ) -> None:
        nn.Module.__init__(self)
        bnb = _bnb()
        self.out_features, self.in_features = linear.out_features, linear.in_features
        self._qmeta = None
        self.storage = "packed"
        device = linear.weight.device
        base = bnb.nn.Linear4bit(
            self.in_features,
            self.out_features,
            bias=linear.bias is not None,
            compute_dtype=linear.weight.dtype,
            compress_statistics=double_quant,
            quant_type="nf4",
            device=device,
        )
        weight = linear.weight.detach().float()
        try:  # quantized where the weight already is (no float32 round trip through the host)
            base.weight = self._params(bnb, weight, block, double_quant)
            base = base.to(device)
        except (RuntimeError, ValueError):
            base.weight = self._params(bnb, weight.cpu(), block, double_quant)
            base = base.to(device)
        if linear.bias is not None:
            base.bias = nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
            base = base.to(device)
        base.support_avx512bf16_for_cpu = False
        self.base = base
        self.lora_A = nn.Parameter(lora_A.detach().clone().float().to(device))
        self.lora_B = nn.Parameter(lora_B.detach().clone().float().to(device))
        self.scaling = float(scaling)
        self.bias = None
        self.dropout = 0.0

    @staticmethod
    def _params(bnb, weight: torch.Tensor, block: int, double_quant: bool):
        return bnb.nn.Params4bit(
            weight,
            requires_grad=False,
            quant_type="nf4",
            blocksize=block,
            compress_statistics=double_quant,
        )

    def qtensor(self):
        return None

    def base_weight(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        bnb = _bnb()
        w = self.base.weight
        return bnb.functional.dequantize_4bit(w.data, w.quant_state).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.base.support_avx512bf16_for_cpu = False
        if x.is_cuda:  # the same adapter arithmetic as QLinear's CUDA path
            autocast = torch.is_autocast_enabled("cuda")
            dtype = torch.get_autocast_dtype("cuda") if autocast else x.dtype
            x2 = x.reshape(-1, self.in_features).to(dtype)
            y = self.base(x2).to(dtype)
            return self._add_lora(y, x2, dtype).view(*x.shape[:-1], self.out_features)
        y = self.base(x)
        h = F.dropout(x, self.dropout, self.training) if self.dropout else x
        lora = F.linear(F.linear(h, self.lora_A.to(x.dtype)), self.lora_B.to(x.dtype))
        return y + self.scaling * lora

    def base_bytes(self) -> int:
        """Every stored byte: the accounted bytes, the NF4 code book (16 float32) and, with
        double quantization, the 8-bit dynamic map (256 float32)."""
        state = self.base.weight.quant_state
        return self.accounted_bytes() + 16 * 4 + (256 * 4 if state.nested else 0)

    def accounted_bytes(self) -> int:
        """Bytes under :mod:`suite.budget`'s accounting: packed codes, the absmax values (float32,
        or 8-bit codes, float32 block scales and the offset), code books aside."""
        w = self.base.weight
        state = w.quant_state
        data = w.data.numel() * w.data.element_size()
        absmax = state.absmax.numel() * state.absmax.element_size()
        if state.nested:
            absmax += state.state2.absmax.numel() * 4 + 4  # block scales, the offset
        return data + absmax

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, base=bnb-nf4, rank={self.rank}"


def bnb_layer(
    linear: nn.Linear, lora_A, lora_B, budget: Budget, double_quant: bool = True
) -> BnbQLinear:
    if int(budget.bits) != 4:
        raise SpecError(
            f"bits {budget.bits} is not allowed with method.qlora.backend=bnb; allowed: 4"
        )
    return BnbQLinear(linear, lora_A, lora_B, budget.scaling, budget.group_size, double_quant)
