"""The method interface: one declaration per method, and ``prepare``.

A method is a subclass of :class:`Method` that declares itself once, in class attributes: its
``name``, a one-line ``summary``, ``Config`` (a frozen dataclass of its own knobs, each default
citing its paper), ``default_quantizer`` (its paper's quantizer), ``init_uses_data`` (its adapter
initialization reads calibration data), ``bits`` (the integer widths it stores),
``fractional_bits`` (it allocates bits, so a budget such as 2.5 is allowed) and ``version``
(bumped whenever its numbers change: cached prepared models are keyed on it, see
:mod:`suite.code_version`). The registry (:mod:`suite.registry`) finds the class in its
module; nothing else lists it. Method modules import torch only inside functions, so listing
and validating methods stays torch-free.

A method owns only ``prepare(model, budget, calib, seed) -> Prepared``: it quantizes the base
weights of the target layers and initializes LoRA A and B. Data, training, evaluation and every
measurement belong to the harness, so that all methods are measured the same way.

Whether a method needs calibration data depends on the quantizer it runs with: its own or the
one a comparison imposes (``budget.quantizer``). The harness asks
``needs_calibration_for(budget)`` and passes a :class:`suite.calibration.Calibration` only then;
``needs_calibration()`` is the answer for the method's own quantizer (what ``qbench ls`` shows).

    >>> from methods.qlora import QLoRA
    >>> from suite.spec import Budget
    >>> method = QLoRA.from_overrides({"backend": "native"})
    >>> (QLoRA.needs_calibration(), method.needs_calibration_for(Budget(quantizer="gptq")))
    (False, True)
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from suite.spec import INTEGER_BITS, Budget, SpecError, coerce, field_names

if TYPE_CHECKING:
    from torch import nn

    from suite.calibration import Calibration
    from suite.lora import Prepared

DATA_QUANTIZERS = ("gptq",)  # quantizers that need the Gram matrix of each layer's inputs


@dataclasses.dataclass(frozen=True)
class NoConfig:
    """A method with no knobs of its own."""


class Method:
    """Base class; subclasses declare the class attributes below and implement ``prepare``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Config: ClassVar[type] = NoConfig
    default_quantizer: ClassVar[str] = "none"  # "none": the base stays unquantized
    init_uses_data: ClassVar[bool] = False  # the adapter init itself needs calibration data
    bits: ClassVar[tuple[int, ...]] = INTEGER_BITS
    fractional_bits: ClassVar[bool] = False
    version: ClassVar[str] = "1"  # bump when prepare's numbers change (suite.code_version)

    def __init__(self, config: Any | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any]) -> Method:
        """Build the config from ``{field: value}`` (strings are converted); unknown keys fail."""
        allowed = field_names(cls.Config)
        values = {}
        for key, raw in overrides.items():
            if key not in allowed:
                raise SpecError(
                    f"unknown setting 'method.{cls.name}.{key}'; allowed: "
                    + (", ".join(f"method.{cls.name}.{k}" for k in allowed) or "none")
                )
            values[key] = coerce(cls.Config, key, raw)
        return cls(cls.Config(**values))

    @classmethod
    def needs_calibration(cls) -> bool:
        """Whether the method needs calibration data with its own quantizer."""
        return cls.init_uses_data or cls.default_quantizer in DATA_QUANTIZERS

    def quantizer_for(self, budget: Budget) -> str:
        """The quantizer this method runs with under ``budget`` (the override, else its own)."""
        return budget.quantizer or self.default_quantizer

    def needs_calibration_for(self, budget: Budget) -> bool:
        """Whether ``prepare`` needs a Calibration under ``budget``."""
        return self.init_uses_data or self.quantizer_for(budget) in DATA_QUANTIZERS

    def check_budget(self, budget: Budget) -> None:
        """SpecError, before any work, where the budget's quantizer override cannot serve."""
        if budget.quantizer is None or self.quantizer_for(budget) == "none":
            return
        from suite.quant import QUANTIZERS

        if budget.quantizer not in QUANTIZERS:
            raise SpecError(
                f"unknown quantizer '{budget.quantizer}'; allowed: {', '.join(sorted(QUANTIZERS))}"
            )
        if float(budget.bits).is_integer():
            from methods.layerwise import check_bits

            check_bits(budget, budget.quantizer)

    @classmethod
    def check_bits(cls, bits: float) -> None:
        """SpecError where this method cannot store ``bits`` (an unquantized method takes any)."""
        if cls.default_quantizer == "none":
            return
        if float(bits).is_integer() and int(bits) in cls.bits:
            return
        if cls.fractional_bits and not float(bits).is_integer():
            return
        allowed = ", ".join(map(str, cls.bits))
        frac = " or a fractional budget such as 2.5" if cls.fractional_bits else ""
        raise SpecError(f"bits {bits} is not allowed for {cls.name}; allowed: {allowed}{frac}")

    def config_items(self) -> tuple[tuple[str, Any], ...]:
        return tuple(sorted(dataclasses.asdict(self.config).items()))

    def prepare(
        self, model: nn.Module, budget: Budget, calib: Calibration | None, seed: int
    ) -> Prepared:  # pragma: no cover - interface
        """Quantize the target layers of ``model`` in place and initialize their adapters."""
        raise NotImplementedError
