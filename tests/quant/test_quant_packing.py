from __future__ import annotations

import pytest
import torch

from suite.quant.packing import pack, packed_nbytes, unpack


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("numel", [0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 23, 24, 1001, 4099])
def test_round_trip_and_exact_size(bits: int, numel: int) -> None:
    gen = torch.Generator().manual_seed(numel * 10 + bits)
    codes = torch.randint(0, 1 << bits, (numel,), generator=gen, dtype=torch.uint8)
    packed = pack(codes, bits)
    assert packed.dtype == torch.uint8 and packed.dim() == 1
    assert packed.numel() == (numel * bits + 7) // 8 == packed_nbytes(numel, bits)
    assert torch.equal(unpack(packed, bits, numel), codes)


def test_layout_is_msb_first_and_dense() -> None:
    assert pack(torch.tensor([1, 2, 15, 0], dtype=torch.uint8), 4).tolist() == [0x12, 0xF0]
    assert pack(torch.tensor([0, 1, 2, 3], dtype=torch.uint8), 2).tolist() == [0b00011011]
    # 000 001 010 011 100 101 110 111 -> 00000101 00111001 01110111
    assert pack(torch.arange(8, dtype=torch.uint8), 3).tolist() == [0x05, 0x39, 0x77]
    # a trailing partial unit: 111 111 -> 11111100
    assert pack(torch.tensor([7, 7], dtype=torch.uint8), 3).tolist() == [0xFC]


def test_2d_codes_pack_in_row_major_order() -> None:
    codes = torch.randint(0, 8, (5, 7), dtype=torch.uint8)
    assert torch.equal(unpack(pack(codes, 3), 3, 35).view(5, 7), codes)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="bits=5"):
        pack(torch.zeros(4, dtype=torch.uint8), 5)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        pack(torch.tensor([4], dtype=torch.uint8), 2)
    with pytest.raises(ValueError, match="integer"):
        pack(torch.zeros(4), 4)
    with pytest.raises(ValueError, match="expected 2 bytes"):
        unpack(torch.zeros(3, dtype=torch.uint8), 4, 4)
