"""One storage accounting for every method, and the byte budget that ``--bits b`` means.

Accounting (the bytes behind ``quant/effective_bits``): the packed codes at their bit width, the
group scales in their stored dtype, the integer zero points at their packed width, and the
statistics of double quantization (second-level codes at their packed width, second-level scales
in their dtype, the offset); code books aside, since a code book is fixed by the format (the
NF-k table, the 8-bit dynamic map) and not data of the weights.

Budget: at ``--bits b`` (an integer) and group size g, a target matrix may store as many bytes
as a plain INT-b base with one scale in the budget's scale dtype (float16 by default, as the
papers count GPTQ's scales) and one b-bit zero point per group of g weights, i.e.
``b + (16 + b) / g`` bits per weight. No method stores more; a method that allocates bits
(LQ-LoRA) allocates within exactly these bytes. A fractional ``--bits`` (e.g. 2.5) is itself
the average bits per weight under this accounting. The scale dtype is one setting of the
comparison (``budget.scale_dtype``), used by every method that stores plain scales.

This module imports no torch, so the report and the registry can use it.

    >>> budget_bits(2, 64)
    2.28125
    >>> layer_budget_bytes(128, 128, bits=2, group_size=64)  # codes + fp16 scales + 2-bit zeros
    4672
    >>> 8 * layer_budget_bytes(128, 128, 2, 64) / (128 * 128)
    2.28125
    >>> budget_bytes([(128, 128), (256, 128)], bits=2.5, group_size=64)  # fractional: the average
    15360
"""

from __future__ import annotations

import math
from collections.abc import Iterable

SCALE_DTYPE_BITS: dict[str, int] = {"float16": 16, "bfloat16": 16, "float32": 32}
DEFAULT_SCALE_DTYPE = "float16"
ACCOUNTING = "int-base-v1"  # the rule above, recorded on every run (contract.ACCOUNTING_PARAM)


def packed_nbytes(count: int, bits: int) -> int:
    """Bytes that ``count`` codes of ``bits`` bits occupy when packed densely."""
    return (count * bits + 7) // 8


def scale_bits(scale_dtype: str) -> int:
    """Bits of one scale stored in ``scale_dtype``; ValueError where the dtype is not allowed."""
    if scale_dtype not in SCALE_DTYPE_BITS:
        raise ValueError(
            f"scale dtype {scale_dtype!r} is not allowed; allowed: {', '.join(SCALE_DTYPE_BITS)}"
        )
    return SCALE_DTYPE_BITS[scale_dtype]


def budget_bits(bits: float, group_size: int, scale_dtype: str = DEFAULT_SCALE_DTYPE) -> float:
    """Bits per weight of the budget: ``b + (scale bits + b) / g`` (a fractional b is itself)."""
    if not float(bits).is_integer():
        return float(bits)
    return bits + (scale_bits(scale_dtype) + bits) / group_size


def layer_budget_bytes(
    out_features: int,
    in_features: int,
    bits: int,
    group_size: int,
    scale_dtype: str = DEFAULT_SCALE_DTYPE,
) -> int:
    """Bytes of a plain INT-``bits`` base of one (out, in) matrix: codes, scales, zeros."""
    numel = out_features * in_features
    groups = numel // group_size
    return (
        packed_nbytes(numel, bits)
        + groups * scale_bits(scale_dtype) // 8
        + packed_nbytes(groups, bits)
    )


def budget_bytes(
    shapes: Iterable[tuple[int, int]],
    bits: float,
    group_size: int,
    scale_dtype: str = DEFAULT_SCALE_DTYPE,
) -> int:
    """The byte budget of the target matrices ``shapes`` at ``bits`` (see the module docs)."""
    shapes = list(shapes)
    if float(bits).is_integer():
        return sum(layer_budget_bytes(o, i, int(bits), group_size, scale_dtype) for o, i in shapes)
    return math.floor(float(bits) * sum(o * i for o, i in shapes) / 8)
