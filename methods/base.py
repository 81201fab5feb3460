"""The method interface: one declaration per method, and ``prepare``.

A method is a subclass of :class:`Method` that declares itself once, in class attributes: its
``name``, a one-line ``summary``, ``Config`` (a frozen dataclass of its own knobs, each default
citing its paper), ``default_quantizer`` (its paper's quantizer), ``init_uses_data`` (its adapter
initialization reads calibration data), ``bits`` (the integer widths it stores),
``fractional_bits`` (it allocates bits, so a budget such as 2.5 is allowed), ``version``
(bumped whenever its numbers change: cached prepared models are keyed on it, see
:mod:`suite.code_version`), and its native LoRA settings as its released code runs them:
``lora_alpha`` (or :meth:`Method.native_alpha` where it depends on bits or rank),
``lora_dropout`` and ``lora_source`` (where they come from).

The native settings fill a budget's ``lora_alpha`` and a run's ``train.lora_dropout`` when those
are not set (:meth:`Method.resolve_budget`, :meth:`Method.native_dropout`; the sweep resolves
them, so the run records the values it used); setting them (``--set budget.lora_alpha=16``)
gives every method of a comparison the same ones (the controlled track). The rank is the
budget's, the same for every method. The registry
(:mod:`suite.registry`) finds the class in its module; nothing else lists it. Method modules
import torch only inside functions, so listing and validating methods stays torch-free.

A method owns only ``prepare(model, budget, calib, seed) -> Prepared``: it quantizes the base
weights of the target layers and initializes LoRA A and B. Data, training, evaluation and every
measurement belong to the harness, so that all methods are measured the same way. The
quantizers' settings are not a method's: a method is built with the run's
:class:`suite.quant.config.QuantSpec` (``quant.<name>.*``, the same for every method) and builds
its quantizer from it (:meth:`Method.make_quantizer`); ``Config`` keeps only its initialization
knobs (and its native LoRA and parity options). Quantizer settings a run leaves unset are
resolved per method and budget (:meth:`Method.resolve_quant`): the stored scales' dtype is the
budget's (``budget.scale_dtype``), and ``native_quant`` holds the method's own values of the
others (qlora's: double quantization of the NF absmax values, as its paper).

Whether a method needs calibration data depends on the quantizer it runs with: its own or the
one a comparison imposes (``budget.quantizer``). The harness asks
``needs_calibration_for(budget)`` and passes a :class:`suite.calibration.Calibration` only then;
``needs_calibration()`` is the answer for the method's own quantizer (what ``qbench ls`` shows).

    >>> from methods.qlora import QLoRA
    >>> from suite.spec import Budget
    >>> method = QLoRA.from_overrides({"backend": "native"})
    >>> (QLoRA.needs_calibration(), method.needs_calibration_for(Budget(quantizer="gptq")))
    (False, True)
    >>> method.resolve_budget(Budget(bits=4, rank=64)).lora_alpha, QLoRA.native_dropout(4)
    (16.0, 0.1)
    >>> nf = method.resolve_quant(Budget(bits=4)).nf
    >>> nf.scale_dtype, nf.double_quant
    ('float16', True)
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from suite.quant import DATA_QUANTIZERS, QUANTIZER_SECTIONS
from suite.quant.config import QuantSpec
from suite.spec import INTEGER_BITS, Budget, SpecError, coerce, field_names

if TYPE_CHECKING:
    from torch import nn

    from suite.calibration import Calibration
    from suite.lora import Prepared


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
    lora_alpha: ClassVar[float] = 16.0  # the released code's lora_alpha (see native_alpha)
    lora_dropout: ClassVar[float] = 0.0  # the released code's lora_dropout
    lora_source: ClassVar[str] = ""  # where the two come from
    # the method's own value of quant settings a run leaves unset, {section: {field: value}}
    native_quant: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def native_alpha(cls, bits: float, rank: int) -> float:
        """The method's own lora_alpha at ``bits`` and ``rank`` (its released code's)."""
        return float(cls.lora_alpha)

    @classmethod
    def native_dropout(cls, bits: float) -> float:
        """The method's own LoRA dropout at ``bits`` (its released code's)."""
        return float(cls.lora_dropout)

    def resolve_budget(self, budget: Budget) -> Budget:
        """``budget`` with its lora_alpha set: the given one, else the method's native one."""
        if budget.lora_alpha is not None:
            return budget
        return dataclasses.replace(budget, lora_alpha=self.native_alpha(budget.bits, budget.rank))

    def __init__(self, config: Any | None = None, quant: QuantSpec | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.quant = quant if quant is not None else QuantSpec()

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any], quant: QuantSpec | None = None) -> Method:
        """Build the config from ``{field: value}`` (strings are converted); unknown keys fail.

        ``quant``: the run's quantizer settings (default: every quantizer's defaults).
        """
        allowed = field_names(cls.Config)
        values = {}
        for key, raw in overrides.items():
            if key not in allowed:
                raise SpecError(
                    f"unknown setting 'method.{cls.name}.{key}'; allowed: "
                    + (", ".join(f"method.{cls.name}.{k}" for k in allowed) or "none")
                )
            values[key] = coerce(cls.Config, key, raw)
        return cls(cls.Config(**values), quant)

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

    def resolve_quant(self, budget: Budget) -> QuantSpec:
        """The run's quantizer settings with those it leaves unset filled in: scale dtypes with
        ``budget.scale_dtype``, the others with the method's own (``native_quant``)."""
        return self.quant.resolved(budget.scale_dtype, self.native_quant)

    def make_quantizer(self, budget: Budget) -> Any:
        """The quantizer this method runs with under ``budget``, with the run's settings."""
        from methods.layerwise import make_quantizer

        return make_quantizer(self.quantizer_for(budget), self.resolve_quant(budget))

    def quant_sections(self, budget: Budget) -> tuple[str, ...]:
        """The ``quant.<name>`` sections whose settings this method's prepare reads."""
        return QUANTIZER_SECTIONS.get(self.quantizer_for(budget), ())

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
        """Quantize the target layers of ``model`` in place and initialize their adapters.

        An implementation starts with ``budget = self.resolve_budget(budget)``."""
        raise NotImplementedError
