"""Quantizers for base weights: a lazy name table and a getter that imports only on demand.

Importing this package does not import torch. A quantizer has a ``name`` and
``quantize(weight, bits, group_size, gram=None) -> QTensor`` / ``dequantize(qt)``; the modules
are :mod:`suite.quant.nf` (NF-k absmax), :mod:`suite.quant.uniform` (INT-k min-max, round to
nearest), :mod:`suite.quant.gptq` (GPTQ/OPTQ, needs the Gram matrix of the layer's inputs),
:mod:`suite.quant.magr` (MagR weight preprocessing), :mod:`suite.quant.dq` (double
quantization of the absmax values), :mod:`suite.quant.packing` and :mod:`suite.quant.qtensor`
(the packed storage, counted as :mod:`suite.budget` says).

    >>> from suite.quant import get_quantizer
    >>> get_quantizer("gptq", act_order=True).name
    'gptq'
"""

from __future__ import annotations

import importlib
from typing import Any

QUANTIZERS: dict[str, str] = {
    "nf": "suite.quant.nf:NFQuantizer",
    "int": "suite.quant.uniform:IntQuantizer",
    "gptq": "suite.quant.gptq:GPTQQuantizer",
}


def quantizer_class(name: str) -> type:
    """The quantizer class registered as ``name`` (imported now); ValueError if unknown."""
    if name not in QUANTIZERS:
        raise ValueError(f"unknown quantizer {name!r}; allowed: {', '.join(sorted(QUANTIZERS))}")
    module, _, attr = QUANTIZERS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def get_quantizer(name: str, **config: Any) -> Any:
    """An instance of the quantizer ``name``, built with ``config`` (its dataclass fields)."""
    return quantizer_class(name)(**config)
