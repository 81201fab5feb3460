"""Quantizers for base weights: a lazy name table and a getter that imports only on demand.

Importing this package does not import torch. A quantizer has a ``name`` and
``quantize(weight, bits, group_size, gram=None) -> QTensor`` / ``dequantize(qt)``; the modules
are :mod:`suite.quant.nf` (NF-k absmax), :mod:`suite.quant.uniform` (INT-k min-max, round to
nearest), :mod:`suite.quant.gptq` (GPTQ/OPTQ, needs the Gram matrix of the layer's inputs),
:mod:`suite.quant.refine` (GPTQ's optional coordinate-descent refinement),
:mod:`suite.quant.magr` (MagR weight preprocessing, and ``magr-gptq``: MagR then GPTQ),
:mod:`suite.quant.dq` (double quantization of the absmax values), :mod:`suite.quant.packing`
and :mod:`suite.quant.qtensor` (the packed storage, counted as :mod:`suite.budget` says).
Their settings are one typed section each of a run's :class:`suite.quant.config.QuantSpec`
(``quant.<name>.*``), and :func:`build_quantizer` builds a quantizer from it, the same for every
method.

    >>> from suite.quant import build_quantizer
    >>> from suite.quant.config import QuantSpec
    >>> quantizer = build_quantizer("gptq", QuantSpec.from_overrides({"gptq": {"damp": "0.1"}}))
    >>> quantizer.name, quantizer.damp
    ('gptq', 0.1)
"""

from __future__ import annotations

import importlib
from typing import Any

QUANTIZERS: dict[str, str] = {
    "nf": "suite.quant.nf:NFQuantizer",
    "int": "suite.quant.uniform:IntQuantizer",
    "gptq": "suite.quant.gptq:GPTQQuantizer",
    "magr-gptq": "suite.quant.magr:MagRGPTQQuantizer",
}
DATA_QUANTIZERS = ("gptq", "magr-gptq")  # quantizers that need each layer's Gram matrix
QUANTIZER_SECTIONS: dict[str, tuple[str, ...]] = {  # the quant.<name> sections each one reads
    "nf": ("nf",),
    "int": ("int",),
    "gptq": ("gptq",),
    "magr-gptq": ("magr", "gptq"),
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


def build_quantizer(name: str, quant: Any) -> Any:
    """The quantizer ``name`` with its settings from ``quant`` (a QuantSpec; settings it leaves
    unset take their fallbacks: the default budget's scale dtype, no double quantization; a
    method resolves them first, :meth:`methods.base.Method.resolve_quant`)."""
    from suite.budget import DEFAULT_SCALE_DTYPE

    return quantizer_class(name).from_spec(quant.resolved(DEFAULT_SCALE_DTYPE))
