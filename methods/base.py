"""The method interface: a name, a frozen config of its own knobs, and ``prepare``.

A method owns only ``prepare(model, budget, calib, seed) -> Prepared``: it quantizes the base
weights of the target layers and initializes LoRA A and B. Data, training, evaluation and every
measurement belong to the harness, so that all methods are measured the same way.

    >>> from methods.qlora import QLoRA
    >>> method = QLoRA.from_overrides({"backend": "native"})
    >>> method.config.backend
    'native'
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from suite.spec import SpecError, coerce, field_names


@dataclasses.dataclass(frozen=True)
class NoConfig:
    """A method with no knobs of its own."""


class Method:
    """Base class; subclasses set ``name``, ``Config`` and implement ``prepare``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = NoConfig
    needs_calibration: ClassVar[bool] = False
    default_quantizer: ClassVar[str] = "none"

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

    def config_items(self) -> tuple[tuple[str, Any], ...]:
        return tuple(sorted(dataclasses.asdict(self.config).items()))

    def prepare(self, model, budget, calib, seed):  # pragma: no cover - interface
        raise NotImplementedError
