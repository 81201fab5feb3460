"""Bit packing of the GPTQ checkpoint layout: k-bit codes in little-endian 32-bit words.

GPTQ checkpoints (AutoGPTQ, GPTQModel, transformers' GPTQ integration) pack every 32
consecutive codes along one dimension into ``bits`` int32 words, as one little-endian bit
stream: code j of a run occupies bits ``j·bits .. j·bits + bits - 1`` of the stream, so 2-, 4-
and 8-bit codes never straddle a word and 3-bit codes spill across word boundaries (codes 10
and 21 of each run of 32). ``qweight`` packs the input dimension (the transposed weight's rows),
``qzeros`` the output dimension (the columns), which :func:`pack_rows` on the transpose gives.

    >>> import torch
    >>> codes = torch.arange(64).remainder(8).view(64, 1)  # 3-bit codes 0..7, twice per run
    >>> words = pack_rows(codes, 3)
    >>> words.shape, words.dtype
    (torch.Size([6, 1]), torch.int32)
    >>> torch.equal(unpack_rows(words, 3, 64), codes)
    True
"""

from __future__ import annotations

import torch

WORD = 32
BITS = (2, 3, 4, 8)


def _check(bits: int, rows: int) -> None:
    if bits not in BITS:
        raise ValueError(f"bits={bits} has no GPTQ packing; allowed: {', '.join(map(str, BITS))}")
    if rows % WORD:
        raise ValueError(f"{rows} rows do not fill whole runs of {WORD} codes")


def pack_rows(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """(n, m) integer codes below 2**bits -> (n·bits/32, m) int32 words, packed along dim 0."""
    n, m = codes.shape
    _check(bits, n)
    runs = codes.to(torch.int64).reshape(n // WORD, WORD, m)
    words = torch.zeros(n // WORD, bits, m, dtype=torch.int64)
    for j in range(WORD):
        offset = j * bits
        word, shift = divmod(offset, WORD)
        words[:, word] |= (runs[:, j] << shift) & 0xFFFFFFFF
        if shift + bits > WORD:  # the high bits go to the start of the next word
            words[:, word + 1] |= runs[:, j] >> (WORD - shift)
    words = words.reshape(n * bits // WORD, m)
    return torch.where(words >= 1 << 31, words - (1 << 32), words).to(torch.int32)


def unpack_rows(words: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    """Inverse of :func:`pack_rows`: the (n, m) codes as int64."""
    _check(bits, n)
    m = words.shape[1]
    wide = words.to(torch.int64) & 0xFFFFFFFF
    wide = wide.reshape(n // WORD, bits, m)
    mask = (1 << bits) - 1
    out = torch.empty(n // WORD, WORD, m, dtype=torch.int64)
    for j in range(WORD):
        word, shift = divmod(j * bits, WORD)
        value = wide[:, word] >> shift
        if shift + bits > WORD:
            value = value | (wide[:, word + 1] << (WORD - shift))
        out[:, j] = value & mask
    return out.reshape(n, m)
