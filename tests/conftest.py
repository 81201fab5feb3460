"""Shared fixtures: a tiny random Llama, the built-in SmolLM2-135M, a temporary MLflow store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def qbench_cache() -> Path:
    return Path(os.environ.get("QBENCH_CACHE") or "~/.cache/qbench").expanduser()


@pytest.fixture
def tiny():
    """(model, tokenizer): a randomly initialised 2-block Llama with a byte tokenizer."""
    import torch

    from suite import models

    return models.load(models.resolve("synthetic:tiny"), qbench_cache(), "cpu", torch.float32)


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from suite import models

    return models.pull("smollm2-135m", qbench_cache(), say=lambda *_: None)


@pytest.fixture
def smollm2(smollm2_path):
    """(model, tokenizer): the built-in SmolLM2-135M-Instruct in float32 on CPU."""
    import torch

    from suite import models

    return models.load(models.resolve("smollm2-135m"), qbench_cache(), "cpu", torch.float32)


@pytest.fixture
def store(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: small LAPACK calls are many times slower with threads on a busy CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
