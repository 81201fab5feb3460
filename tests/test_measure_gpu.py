"""On CUDA: a phase records the peak it allocated and gives its cached memory back at its end."""

from __future__ import annotations

import pytest
import torch

from suite.measure import Phase

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_a_phase_records_its_peak_and_releases_the_cache():
    size = 512 * 2**20  # bytes
    torch.cuda.empty_cache()
    before = torch.cuda.memory_reserved()
    with Phase("train", "cuda") as phase:
        block = torch.empty(size, dtype=torch.uint8, device="cuda")
        del block  # freed, but PyTorch's allocator would keep it reserved
    assert phase.peak_bytes >= size
    assert torch.cuda.memory_reserved() - before < size
