"""Dense bit packing of k-bit integer codes into bytes (k in 2, 3, 4, 8).

Codes are laid out one after another, most significant bits first, with no gaps: 4-bit codes go
two to a byte with the first code in the high nibble (bitsandbytes' layout), 2-bit codes four to a
byte, 3-bit codes eight to every three bytes. Only the final byte may hold unused (zero) bits, so a
packed tensor of ``numel`` codes has exactly ``ceil(numel * bits / 8)`` bytes.

    >>> import torch
    >>> from suite.quant.packing import pack, unpack
    >>> codes = torch.tensor([1, 2, 3, 4, 5], dtype=torch.uint8)
    >>> packed = pack(codes, 3)
    >>> packed.numel(), unpack(packed, 3, 5).tolist()
    (2, [1, 2, 3, 4, 5])
"""

from __future__ import annotations

import math

import torch

from suite.budget import packed_nbytes

PACK_BITS = (2, 3, 4, 8)
__all__ = ["PACK_BITS", "check_pack_bits", "pack", "packed_nbytes", "unpack"]


def check_pack_bits(bits: int) -> None:
    """Raise ValueError unless ``bits`` is a width that packing supports."""
    if bits not in PACK_BITS:
        raise ValueError(f"bits={bits!r} cannot be packed; allowed: 2, 3, 4, 8")


def _unit(bits: int) -> tuple[int, int]:
    """(codes, bytes) of the smallest run of codes that fills whole bytes."""
    g = math.gcd(bits, 8)
    return 8 // g, bits // g


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack integer codes (values below ``2**bits``) into a 1-D uint8 tensor.

    The codes are read in row-major order; the result lives on the codes' device.
    """
    check_pack_bits(bits)
    if codes.dtype.is_floating_point or codes.dtype.is_complex or codes.dtype == torch.bool:
        raise ValueError(f"codes must be an integer tensor, got dtype {codes.dtype}")
    flat = codes.reshape(-1)
    numel = flat.numel()
    if numel and (int(flat.min()) < 0 or int(flat.max()) >= 1 << bits):
        raise ValueError(f"codes must lie in [0, {1 << bits}) for bits={bits}")
    if bits == 8:
        return flat.to(torch.uint8).clone()
    per_unit, unit_bytes = _unit(bits)
    pad = -numel % per_unit
    # one byte per unit (2 and 4 bits) works in uint8; 3 bits builds 24-bit words in int32
    wide = flat.to(torch.uint8 if unit_bytes == 1 else torch.int32)
    if pad:
        wide = torch.cat([wide, wide.new_zeros(pad)])
    wide = wide.view(-1, per_unit)
    unit_bits = 8 * unit_bytes
    word = wide.new_zeros(wide.shape[0])
    for k in range(per_unit):  # positions within one unit, not elements
        word |= wide[:, k] << (unit_bits - bits * (k + 1))
    if unit_bytes == 1:
        return word
    out = torch.stack([(word >> (unit_bits - 8 * (m + 1))) & 0xFF for m in range(unit_bytes)], 1)
    return out.reshape(-1)[: packed_nbytes(numel, bits)].to(torch.uint8)


def unpack(packed: torch.Tensor, bits: int, numel: int) -> torch.Tensor:
    """Inverse of :func:`pack`: the first ``numel`` codes as a 1-D uint8 tensor."""
    check_pack_bits(bits)
    if packed.dtype != torch.uint8:
        raise ValueError(f"packed codes must be uint8, got dtype {packed.dtype}")
    flat = packed.reshape(-1)
    expected = packed_nbytes(numel, bits)
    if flat.numel() != expected:
        raise ValueError(
            f"{flat.numel()} packed bytes do not hold {numel} codes of {bits} bits; "
            f"expected {expected} bytes"
        )
    if bits == 8:
        return flat.clone()
    per_unit, unit_bytes = _unit(bits)
    mask = (1 << bits) - 1
    unit_bits = 8 * unit_bytes
    if unit_bytes == 1:
        word = flat
    else:
        pad = -flat.numel() % unit_bytes
        wide = flat.to(torch.int32)
        if pad:
            wide = torch.cat([wide, wide.new_zeros(pad)])
        wide = wide.view(-1, unit_bytes)
        word = wide.new_zeros(wide.shape[0])
        for m in range(unit_bytes):
            word |= wide[:, m] << (unit_bits - 8 * (m + 1))
    out = torch.stack([(word >> (unit_bits - bits * (k + 1))) & mask for k in range(per_unit)], 1)
    return out.reshape(-1)[:numel].to(torch.uint8)
