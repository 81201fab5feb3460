"""Lazy name tables for methods, tasks and built-in models, with did-you-mean errors.

Nothing here imports torch: an entry is a ``"module:attr"`` string plus the metadata that
``qbench ls`` and input validation need. ``load`` imports the target only when asked.

    >>> from suite.registry import METHODS, lookup
    >>> lookup(METHODS, "method", "qlora").needs_calibration
    False
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any

from suite.spec import SpecError


@dataclass(frozen=True)
class Entry:
    target: str  # "module:attr"
    summary: str
    bits: tuple[int, ...] = (2, 3, 4, 8)
    fractional_bits: bool = False
    needs_calibration: bool = False
    quantizer: str = ""  # the method's own quantizer, from its paper


METHODS: dict[str, Entry] = {
    "qlora": Entry(
        "methods.qlora:QLoRA",
        "NF-k blockwise absmax base (NF4 at 4 bits), A random, B = 0 (Dettmers et al. 2023)",
        bits=(2, 3, 4),
        quantizer="nf",
    ),
    "loftq": Entry(
        "methods.loftq:LoftQ",
        "NF-k base (block 64), T alternating steps Q = q(W - sBA), sBA = SVD_r(W - Q) "
        "(Li et al. 2024)",
        bits=(2, 3, 4),
        quantizer="nf",
    ),
    "cloq": Entry(
        "methods.cloq:CLoQ",
        "GPTQ INT-k base (group 64), closed-form calibrated init sBA = R^-1 SVD_r(R(W - Q)^T), "
        "R^T R = H (Deng et al. 2025)",
        bits=(2, 3, 4, 8),
        needs_calibration=True,
        quantizer="gptq",
    ),
    "gptq-lora": Entry(
        "methods.gptq_lora:GPTQLoRA",
        "GPTQ INT-k base as cloq, A random, B = 0: isolates CLoQ's initialization",
        bits=(2, 3, 4, 8),
        needs_calibration=True,
        quantizer="gptq",
    ),
    "apiq": Entry(
        "methods.apiq:ApiQ",
        "INT-k base (group 64) with learnable clipping; clipping and LoRA A/B trained to match the "
        "full-precision block outputs on calibration data (Liao et al. 2024)",
        bits=(2, 3, 4, 8),
        needs_calibration=True,
        quantizer="int",
    ),
    "lqlora": Entry(
        "methods.lqlora:LQLoRA",
        "W = Q + L1L2 by alternating SVD and NF re-quantization; NF bits/blocks per matrix by ILP "
        "under an average-bits budget; Fisher-weighted option (Guo et al. 2024)",
        bits=(2, 3, 4, 8),
        fractional_bits=True,
        quantizer="nf",
    ),
    "lora16": Entry(
        "methods.lora16:LoRA16",
        "unquantized base, A random, B = 0: the full-precision reference row",
        bits=(16,),
        quantizer="none",
    ),
}

TASKS: dict[str, Entry] = {
    "wikitext2": Entry(
        "tasks.wikitext2:WikiText2",
        "WikiText-2 raw: fine-tune on train, perplexity on test (2048-token windows)",
    ),
    "gsm8k": Entry(
        "tasks.gsm8k:GSM8K",
        "GSM8K: fine-tune on worked solutions, zero-shot greedy exact answer on test",
    ),
    "commonsense": Entry(
        "tasks.commonsense:Commonsense",
        "Commonsense-170K fine-tuning; BoolQ, PIQA, SIQA, HellaSwag, WinoGrande, ARC-e/c, OBQA",
    ),
}


def lookup(table: dict[str, Entry], kind: str, name: str) -> Entry:
    """The entry for ``name``, or a SpecError naming it, the allowed names and a close match."""
    if name in table:
        return table[name]
    raise SpecError(unknown(kind, name, sorted(table)))


def unknown(kind: str, name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}'{hint}; allowed: {', '.join(allowed)}"


def load(entry: Entry) -> Any:
    """Import and return the object an entry points to."""
    module, _, attr = entry.target.partition(":")
    return getattr(importlib.import_module(module), attr)
