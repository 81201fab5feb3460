"""The method interface: a name, a frozen config of its own knobs, and ``prepare``.

A method owns only ``prepare(model, budget, calib, seed) -> Prepared``: it quantizes the base
weights of the target layers and initializes LoRA A and B. Data, training, evaluation and every
measurement belong to the harness, so that all methods are measured the same way.

Whether a method needs calibration data depends on the quantizer it runs with: its own (from its
paper, ``default_quantizer``) or the one a comparison imposes (``budget.quantizer``). The harness
asks ``needs_calibration_for(budget)`` and passes a :class:`suite.calibration.Calibration` only
then; ``own_needs_calibration()`` is the answer for the method's own quantizer (what the
registry records for ``qbench ls``).

    >>> from methods.qlora import QLoRA
    >>> from suite.spec import Budget
    >>> method = QLoRA.from_overrides({"backend": "native"})
    >>> method.needs_calibration_for(Budget(quantizer="gptq"))
    True
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from suite.spec import Budget, SpecError, coerce, field_names

DATA_QUANTIZERS = ("gptq",)  # quantizers that need the Gram matrix of each layer's inputs


@dataclasses.dataclass(frozen=True)
class NoConfig:
    """A method with no knobs of its own."""


class Method:
    """Base class; subclasses set ``name``, ``Config`` and implement ``prepare``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = NoConfig
    default_quantizer: ClassVar[str] = "none"
    init_uses_data: ClassVar[bool] = False  # the adapter init itself needs calibration data

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
    def own_needs_calibration(cls) -> bool:
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

    def config_items(self) -> tuple[tuple[str, Any], ...]:
        return tuple(sorted(dataclasses.asdict(self.config).items()))

    def prepare(self, model, budget, calib, seed):  # pragma: no cover - interface
        raise NotImplementedError
