"""Frozen, validated specifications of a qbench run, and the run key that identifies one.

Everything a run depends on lives in these dataclasses; CLI flags, YAML sweep files and
``--set key=value`` overrides all fill the same fields, and unknown keys are errors.

    >>> Budget(bits=2, rank=16, lora_alpha=16).scaling
    1.0
    >>> Budget(bits=5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    suite.spec.SpecError: bits 5 is not allowed; allowed: 2, 3, 4, 8 (fractional ...)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, fields
from typing import Any

from suite.budget import SCALE_DTYPE_BITS, budget_bits

LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
INTEGER_BITS = (2, 3, 4, 8)
UNQUANTIZED_BITS = 16  # the bits recorded for an unquantized (bf16/fp32) base


class SpecError(ValueError):
    """A specification value is invalid; the message names the value and what is allowed."""


def whole_number(flag: str, value: str, low: int, high: int) -> int:
    """A flag's whole number from ``low`` to ``high`` (ASCII digits only); SpecError otherwise.

    >>> whole_number("--workers", " 4 ", 1, 64)
    4
    >>> whole_number("--retries", "²", 0, 100)
    Traceback (most recent call last):
    suite.spec.SpecError: --retries '²' is not allowed; allowed: a whole number from 0 to 100
    """
    text = value.strip()
    if not re.fullmatch(r"[0-9]+", text) or not low <= int(text) <= high:
        raise SpecError(
            f"{flag} '{value}' is not allowed; allowed: a whole number from {low} to {high}"
        )
    return int(text)


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise SpecError(message)


def _finite(obj: Any, section: str) -> None:
    """Every float field of a spec section must be a finite number (inf and nan pass ``> 0``)."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"{section}.{f.name} {value} is not allowed; allowed: a finite number")


@dataclass(frozen=True)
class Budget:
    """What every method in one comparison must honour: bits, group size, rank, alpha, targets,
    the quantizer (None: each method's own, from its paper) and the one dtype of stored scales.

    ``bits`` and ``group_size`` set the byte budget of :mod:`suite.budget` (at ``bits`` b and
    group g: an INT-b base with one ``scale_dtype`` scale and one b-bit zero per group)."""

    bits: float = 4
    group_size: int = 64
    rank: int = 64
    lora_alpha: float | None = None  # None: each method's own (Method.native_alpha)
    target_modules: tuple[str, ...] = LLAMA_TARGETS
    quantizer: str | None = None  # None: the method's own quantizer, from its paper
    scale_dtype: str = "float16"  # every method's stored scales (the papers count float16)

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        _finite(self, "budget")
        if isinstance(self.bits, float) and self.bits.is_integer():
            object.__setattr__(self, "bits", int(self.bits))
        fractional_ok = not float(self.bits).is_integer() and 2 < float(self.bits) < 8
        _require(
            self.bits in (*INTEGER_BITS, UNQUANTIZED_BITS) or fractional_ok,
            f"bits {self.bits} is not allowed; allowed: {', '.join(map(str, INTEGER_BITS))}"
            " (fractional budgets such as 2.5 only for methods that allocate bits)",
        )
        _require(
            isinstance(self.group_size, int) and self.group_size > 0,
            f"group size {self.group_size} is not allowed; allowed: a positive integer "
            "that divides every target layer's input width (e.g. 32, 64, 128)",
        )
        _require(
            isinstance(self.rank, int) and self.rank > 0,
            f"rank {self.rank} is not allowed; allowed: a positive integer (e.g. 8, 16, 64)",
        )
        _require(
            self.lora_alpha is None or self.lora_alpha > 0,
            f"lora_alpha {self.lora_alpha} is not allowed; allowed: > 0 (unset: each method's own)",
        )
        _require(len(self.target_modules) > 0, "target_modules is empty; name at least one")
        _require(
            self.scale_dtype in SCALE_DTYPE_BITS,
            f"budget.scale_dtype {self.scale_dtype!r} is not allowed; allowed: "
            + ", ".join(SCALE_DTYPE_BITS),
        )

    @property
    def scaling(self) -> float:
        """The LoRA scaling s = alpha / r that multiplies B @ A in the forward pass."""
        if self.lora_alpha is None:
            raise SpecError(
                "budget.lora_alpha is not resolved; allowed: a number, or a budget passed "
                "through the method's resolve_budget (its native alpha)"
            )
        return self.lora_alpha / self.rank

    def budget_bits(self) -> float:
        """Bits per weight this budget allows (:func:`suite.budget.budget_bits`)."""
        return budget_bits(self.bits, self.group_size, self.scale_dtype)


@dataclass(frozen=True)
class CalibSpec:
    """Calibration tokens: seeded windows from the WikiText-2 *train* split (never a test split)."""

    n_windows: int = 128
    seq_len: int = 2048
    holdout_windows: int = 8  # held out for init/calib_err, never used by a method
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_windows", "seq_len", "holdout_windows"):
            value = getattr(self, name)
            _require(value > 0, f"calib.{name} {value} is not allowed; allowed: > 0")


@dataclass(frozen=True)
class TrainSpec:
    """The one fine-tuning loop's settings (suite/train.py)."""

    steps: int = 0  # > 0 overrides epochs
    epochs: float = 1.0
    batch_size: int = 4
    grad_accum: int = 1
    # rows per forward/backward; 0: batch_size. A speed setting only: a step still averages each
    # batch_size group's loss as its own (suite/train.py), so the step's gradient does not change
    micro_batch: int = 0
    # > 0: micro_batch chosen per model, the most rows whose logits (rows x seq_len x the
    # model's vocabulary) stay within this many elements; exclusive with micro_batch
    micro_logits: int = 0
    seq_len: int = 512
    lr: float = 3e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    max_grad_norm: float = 1.0
    lora_dropout: float | None = None  # None: the method's own (Method.native_dropout)
    grad_checkpointing: bool = False
    bf16: str = "auto"  # auto: bf16 autocast where the device supports it; "on" / "off"
    max_examples: int = 0  # 0: all training examples
    warmup_steps_for_speed: int = 2  # steps left out of train/tokens_per_s

    def __post_init__(self) -> None:
        _finite(self, "train")
        _require(self.steps >= 0, f"train.steps {self.steps} is not allowed; allowed: >= 0")
        _require(
            self.steps > 0 or self.epochs > 0,
            f"train.epochs {self.epochs} is not allowed; allowed: > 0 (or set train.steps)",
        )
        for name in ("batch_size", "grad_accum", "seq_len"):
            value = getattr(self, name)
            _require(value > 0, f"train.{name} {value} is not allowed; allowed: > 0")
        _require(self.lr > 0, f"train.lr {self.lr} is not allowed; allowed: > 0")
        rows = self.batch_size * self.grad_accum
        _require(
            self.micro_batch == 0
            or (
                self.micro_batch > 0
                and self.micro_batch % self.batch_size == 0
                and rows % self.micro_batch == 0
            ),
            f"train.micro_batch {self.micro_batch} is not allowed; allowed: 0 (train.batch_size) "
            f"or a multiple of train.batch_size {self.batch_size} that divides batch_size x "
            f"grad_accum = {rows}",
        )
        _require(
            self.micro_logits >= 0 and not (self.micro_logits and self.micro_batch),
            f"train.micro_logits {self.micro_logits} is not allowed; allowed: 0, or > 0 with "
            "train.micro_batch 0 (one of the two sets the rows per forward)",
        )
        _require(
            0 <= self.warmup_ratio < 1, f"train.warmup_ratio {self.warmup_ratio}: allowed [0, 1)"
        )
        _require(
            self.lora_dropout is None or 0 <= self.lora_dropout < 1,
            f"train.lora_dropout {self.lora_dropout}: allowed [0, 1) (unset: the method's own)",
        )
        _require(
            self.bf16 in ("auto", "on", "off"),
            f"train.bf16 {self.bf16!r} is not allowed; allowed: auto, on, off",
        )


@dataclass(frozen=True)
class EvalSpec:
    """Evaluation settings shared by the tasks; each task reads what applies to it."""

    protocol: str = ""  # empty: the task's default protocol
    seq_len: int = 2048
    max_windows: int = 0  # 0: the whole split
    max_items: int = 0  # 0: every item (generation tasks)
    batch_size: int = 4
    max_new_tokens: int = 256

    def __post_init__(self) -> None:
        for name in ("seq_len", "batch_size", "max_new_tokens"):
            value = getattr(self, name)
            _require(value > 0, f"eval.{name} {value} is not allowed; allowed: > 0")
        for name in ("max_windows", "max_items"):
            value = getattr(self, name)
            _require(value >= 0, f"eval.{name} {value} is not allowed; allowed: >= 0")


@dataclass(frozen=True)
class RunSpec:
    """One run: a method at one budget, trained and evaluated on one task with one seed."""

    model: str
    method: str
    task: str
    budget: Budget
    calib: CalibSpec
    train: TrainSpec
    eval: EvalSpec
    seed: int = 0
    data: str = "sample"
    method_config: tuple[tuple[str, Any], ...] = ()
    task_version: str = ""
    # every quant.<name>.<field> (suite.quant.config.QuantSpec.items(); () holds the defaults)
    quant: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["budget"]["target_modules"] = list(self.budget.target_modules)
        out["method_config"] = dict(self.method_config)
        out["quant"] = {name: dict(items) for name, items in self.quant}
        return out

    def flat_params(self) -> dict[str, str]:
        """The spec flattened to ``section.field`` keys, as recorded in MLflow params
        (``method.<name>.<field>`` for the method's config, ``quant.<name>.<field>``)."""
        flat: dict[str, str] = {}
        for key, value in self.to_dict().items():
            if key == "method_config":
                for k, v in value.items():
                    flat[f"method.{self.method}.{k}"] = _param(v)
            elif key == "quant":
                for name, section in value.items():
                    for k, v in section.items():
                        flat[f"quant.{name}.{k}"] = _param(v)
            elif isinstance(value, dict):
                for k, v in value.items():
                    flat[f"{key}.{k}"] = _param(v)
            else:
                flat[key] = _param(value)
        return flat

    def prepare_dict(self, needs_calibration: bool) -> dict[str, Any]:
        """What the prepared model depends on: its cache key hashes exactly this."""
        d = {
            "model": self.model,
            "method": self.method,
            "budget": self.to_dict()["budget"],
            "method_config": dict(self.method_config),
            "quant": self.to_dict()["quant"],  # every quant setting, whichever the method uses
            "seed": self.seed,
        }
        if needs_calibration:
            d["calib"] = dataclasses.asdict(self.calib)
            d["data"] = self.data
        return d


def _param(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def key_of(obj: Any) -> str:
    """A stable 16-hex-digit key of a JSON-able object."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:16]


def spec_key(spec: RunSpec) -> str:
    """A hash of the spec's canonical JSON alone (a sweep lists each spec once by it)."""
    return key_of(spec.to_dict())


def run_key(spec: RunSpec, device_type: str, dtype: str) -> str:
    """The stable identity of a run: its spec, the device type (cpu, cuda) and the base
    model's dtype it runs in; a run on another kind of device is another run."""
    return key_of({"spec": spec.to_dict(), "device_type": device_type, "dtype": dtype})


SECTIONS = {"budget": Budget, "calib": CalibSpec, "train": TrainSpec, "eval": EvalSpec}


def field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def coerce_bool(text: str) -> bool:
    """``text`` as a bool (1/true/yes/on, 0/false/no/off); ValueError otherwise."""
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def coerce(cls: type, name: str, raw: Any) -> Any:
    """Convert a raw (string or YAML) value to the type of ``cls.name``; a float must be finite.

    >>> coerce(TrainSpec, "lr", "1e-4"), coerce(Budget, "target_modules", "q_proj, v_proj")
    (0.0001, ('q_proj', 'v_proj'))
    >>> coerce(TrainSpec, "lr", "inf")
    Traceback (most recent call last):
    suite.spec.SpecError: lr='inf' is not allowed; allowed: a finite number
    """
    ftype = {f.name: f.type for f in fields(cls)}[name]
    if ftype == "float":
        return _finite_float(name, raw)
    if not isinstance(raw, str):
        if ftype in ("tuple[str, ...]",) and isinstance(raw, list | tuple):
            return tuple(str(x) for x in raw)
        return raw
    text = raw.strip()
    try:
        if ftype == "int":
            return int(text)
        if ftype == "bool":
            return coerce_bool(text)
        if ftype == "tuple[str, ...]":
            return tuple(t.strip() for t in text.split(",") if t.strip())
        if ftype == "str | None":
            return None if text.lower() in ("", "none", "default") else text
        if ftype == "float | None":
            return None if text.lower() in ("", "none", "default") else _finite_float(name, text)
        if ftype == "bool | None":
            if text.lower() in ("", "none", "default"):
                return None
            return coerce_bool(text)
    except ValueError:
        raise SpecError(
            f"{name}={raw!r} is not a valid {ftype}; give a value of that type"
        ) from None
    return text


def _finite_float(name: str, raw: Any) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return raw  # the dataclass rejects it
    try:
        value = float(raw.strip()) if isinstance(raw, str) else raw
    except ValueError:
        raise SpecError(f"{name}={raw!r} is not a valid float; give a value of that type") from None
    if not math.isfinite(value):
        raise SpecError(f"{name}={raw!r} is not allowed; allowed: a finite number")
    return value
