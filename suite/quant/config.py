"""Quantizer settings: one typed section per quantizer, shared by every method of a run.

``--set quant.<name>.<field>=value`` (and a sweep file's or profile's ``quant:`` section) fills
these frozen dataclasses, exactly as ``method.<name>.<field>`` fills a method's config: unknown
sections and fields are errors, and each value is checked here, before any work. A run holds one
:class:`QuantSpec` (as its sorted items, ``RunSpec.quant``, as it holds a method's config); every
method builds its quantizer from it (:func:`suite.quant.build_quantizer`),
so ``--quantizer gptq`` is the same GPTQ for every method, and a method's own config keeps only
its initialization knobs. The whole section is recorded on the run (params ``quant.<name>.*``)
and is part of the prepared model's cache key. Nothing here imports torch.

Sections: ``gptq`` (GPTQ/OPTQ and its optional coordinate-descent refinement), ``nf`` (NF-k
absmax, and QLoRA's double quantization of the absmax values), ``int`` (INT-k min-max, round to
nearest), ``lwc`` (ApiQ's learnable weight clipping), ``magr`` (MagR preprocessing, used by the
``magr-gptq`` quantizer).

Two kinds of setting are unset (None) by default and filled in per run by :meth:`QuantSpec.resolved`
(the sweep does so, so every RunSpec holds the values its run uses): ``scale_dtype`` (the
stored scales' dtype) is the budget's, ``budget.scale_dtype`` (float16 unless told), the one
scale dtype of a comparison's storage accounting (:mod:`suite.budget`); ``nf.double_quant`` is
the method's own (``Method.native_quant``: on for qlora, as its paper; off for every other
method). Setting either gives every method of the run the same value.

    >>> spec = QuantSpec.from_overrides({"gptq": {"damp": "0.1", "act_order": "true"}})
    >>> spec.gptq.damp, spec.gptq.act_order, spec.magr.iters, spec.gptq.scale_dtype
    (0.1, True, 200, None)
    >>> QuantSpec.from_items(spec.items()) == spec
    True
    >>> run = spec.resolved("float16", {"nf": {"double_quant": True}})
    >>> run.gptq.scale_dtype, run.nf.scale_dtype, run.nf.double_quant
    ('float16', 'float16', True)
    >>> QuantSpec.from_overrides({"gptq": {"dampp": "0.1"}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    suite.spec.SpecError: unknown setting 'quant.gptq.dampp'; allowed: quant.gptq.damp, ...
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from suite.budget import DEFAULT_SCALE_DTYPE
from suite.spec import SpecError, coerce, field_names

SCALE_DTYPE_NAMES = ("float32", "float16", "bfloat16")  # suite.quant.qtensor.SCALE_DTYPES' keys
DQ_ROUNDINGS = ("nearest", "bnb-cpu")  # suite.quant.dq.ROUNDINGS
GROUP_PARAMS = ("reference", "fresh", "static")  # when GPTQ computes a group's scale/zero
GPTQ_SCHEMES = ("int", "nf")


def _check(section: str, obj: Any, checks: list[tuple[bool, str, str]]) -> None:
    for ok, name, allowed in checks:
        if not ok:
            raise SpecError(
                f"quant.{section}.{name} {getattr(obj, name)!r} is not allowed; allowed: {allowed}"
            )


def _scale_dtype_ok(value: str | None) -> tuple[bool, str, str]:
    return (
        value is None or value in SCALE_DTYPE_NAMES,
        "scale_dtype",
        ", ".join(SCALE_DTYPE_NAMES) + " (unset: the budget's)",
    )


def stored_scale_dtype(value: str | None) -> str:
    """A section's ``scale_dtype`` as a quantizer stores it: unset means the budget default's."""
    return DEFAULT_SCALE_DTYPE if value is None else value


def check_group_params(group_params: str, act_order: bool) -> None:
    """SpecError where ``group_params`` is unknown, or "fresh" is asked for with act-order."""
    if group_params not in GROUP_PARAMS:
        raise SpecError(
            f"quant.gptq.group_params {group_params!r} is not allowed; allowed: "
            + ", ".join(GROUP_PARAMS)
        )
    if act_order and group_params == "fresh":
        raise SpecError(
            "quant.gptq.group_params 'fresh' is not allowed with act_order; allowed with "
            "act_order: reference, static (both static groups)"
        )


@dataclass(frozen=True)
class GPTQSettings:
    """GPTQ/OPTQ (Frantar et al., 2023) as its reference code runs it; see suite.quant.gptq."""

    damp: float = 0.01  # percdamp: the fraction of mean(diag H) added to the diagonal
    block_size: int = 128  # lazy-update block
    act_order: bool = False  # columns by decreasing H_ii (static groups)
    scheme: str = "int"  # grid: asymmetric INT-k, or an NF-k code book
    scale_dtype: str | None = None  # None: the budget's (budget.scale_dtype)
    fp64_cholesky: bool = False
    group_params: str = "reference"  # reference | fresh | static
    cd_passes: int = 0  # coordinate-descent refinement passes after GPTQ (0: none)
    cd_damp: float = 0.75  # the refinement's damping, a fraction of mean(diag H)

    def __post_init__(self) -> None:
        _check(
            "gptq",
            self,
            [
                (self.damp >= 0, "damp", "a number >= 0 (e.g. 0.01)"),
                (
                    isinstance(self.block_size, int) and self.block_size > 0,
                    "block_size",
                    "a positive integer",
                ),
                (self.scheme in GPTQ_SCHEMES, "scheme", ", ".join(GPTQ_SCHEMES)),
                _scale_dtype_ok(self.scale_dtype),
                (
                    isinstance(self.cd_passes, int) and self.cd_passes >= 0,
                    "cd_passes",
                    "an integer >= 0 (0: no refinement)",
                ),
                (self.cd_damp >= 0, "cd_damp", "a number >= 0"),
            ],
        )
        check_group_params(self.group_params, self.act_order)


@dataclass(frozen=True)
class NFSettings:
    """NF-k blockwise absmax (QLoRA's NF4), the absmax values stored in ``scale_dtype`` or
    double-quantized (``double_quant``: QLoRA's §3, bitsandbytes' ``compress_statistics=True``,
    :data:`suite.quant.dq.BNB_DQ`; ``dq_rounding`` picks the 8-bit codes as bitsandbytes' CUDA
    kernel, ``nearest``, or its CPU kernel's table, ``bnb-cpu``)."""

    scale_dtype: str | None = None  # None: the budget's (budget.scale_dtype)
    double_quant: bool | None = None  # None: the method's own (qlora: on; every other: off)
    dq_rounding: str = "nearest"

    def __post_init__(self) -> None:
        _check(
            "nf",
            self,
            [
                _scale_dtype_ok(self.scale_dtype),
                (
                    self.dq_rounding in DQ_ROUNDINGS,
                    "dq_rounding",
                    ", ".join(DQ_ROUNDINGS),
                ),
            ],
        )


@dataclass(frozen=True)
class IntSettings:
    """Asymmetric INT-k min-max, round to nearest."""

    scale_dtype: str | None = None  # None: the budget's (budget.scale_dtype)

    def __post_init__(self) -> None:
        _check("int", self, [_scale_dtype_ok(self.scale_dtype)])


@dataclass(frozen=True)
class LWCSettings:
    """Learnable weight clipping (OmniQuant's LWC, as ApiQ trains it) on an INT-k grid whose
    steps are stored in ``scale_dtype`` (the fake-quantized pass rounds through it)."""

    init_logit: float = 4.0  # clipping factor sigmoid(4) = 0.982 at the start (released code)
    scale_dtype: str | None = None  # None: the budget's (budget.scale_dtype)

    def __post_init__(self) -> None:
        finite = self.init_logit == self.init_logit and abs(self.init_logit) < float("inf")
        _check(
            "lwc",
            self,
            [(finite, "init_logit", "a finite number"), _scale_dtype_ok(self.scale_dtype)],
        )


@dataclass(frozen=True)
class MagRSettings:
    """MagR (Zhang et al., 2024) before GPTQ, group-wise on the budget's groups.

    Defaults from the authors' code (AozhongZhang/MagR, ``MagR.py``): α = 1e-4 for the
    group-wise variant and 200 proximal iterations.
    """

    alpha: float = 1e-4
    iters: int = 200

    def __post_init__(self) -> None:
        _check(
            "magr",
            self,
            [
                (self.alpha > 0, "alpha", "a number > 0 (e.g. 0.0001)"),
                (isinstance(self.iters, int) and self.iters >= 0, "iters", "an integer >= 0"),
            ],
        )


UNSET_FALLBACKS: dict[tuple[str, str], Any] = {
    ("nf", "double_quant"): False,  # where the method has no own value (Method.native_quant)
}


@dataclass(frozen=True)
class QuantSpec:
    """Every quantizer's settings for one run."""

    gptq: GPTQSettings = field(default_factory=GPTQSettings)
    nf: NFSettings = field(default_factory=NFSettings)
    int: IntSettings = field(default_factory=IntSettings)
    lwc: LWCSettings = field(default_factory=LWCSettings)
    magr: MagRSettings = field(default_factory=MagRSettings)

    @classmethod
    def sections(cls) -> dict[str, type]:
        """{section name: its settings class}."""
        return {f.name: f.default_factory for f in dataclasses.fields(cls)}  # type: ignore[misc]

    @classmethod
    def from_overrides(cls, overrides: dict[str, dict[str, Any]]) -> QuantSpec:
        """Build from ``{section: {field: value}}`` (strings are converted); unknown keys fail."""
        sections = cls.sections()
        values = {}
        for section, items in overrides.items():
            if section not in sections:
                raise SpecError(
                    f"unknown setting 'quant.{section}'; allowed: "
                    + ", ".join(f"quant.{s}.*" for s in sections)
                )
            settings_cls = sections[section]
            allowed = field_names(settings_cls)
            kwargs = {}
            for key, raw in items.items():
                if key not in allowed:
                    raise SpecError(
                        f"unknown setting 'quant.{section}.{key}'; allowed: "
                        + ", ".join(f"quant.{section}.{k}" for k in allowed)
                    )
                kwargs[key] = coerce(settings_cls, key, raw)
            values[section] = settings_cls(**kwargs)
        return cls(**values)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    def items(self) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
        """Every section's every setting, sorted: what a RunSpec holds (``RunSpec.quant``)."""
        return tuple(
            (name, tuple(sorted(values.items()))) for name, values in sorted(self.to_dict().items())
        )

    def resolved(
        self, scale_dtype: str, native: dict[str, dict[str, Any]] | None = None
    ) -> QuantSpec:
        """Every unset (None) setting filled in: each ``scale_dtype`` with ``scale_dtype`` (the
        budget's), any other with the method's own value in ``native`` ({section: {field:
        value}}), else its fallback (``nf.double_quant``: off). Set values stay."""
        native = native or {}
        values = {}
        for name, settings in self.sections_of().items():
            changes: dict[str, Any] = {}
            for f in dataclasses.fields(settings):
                if getattr(settings, f.name) is not None:
                    continue
                if f.name == "scale_dtype":
                    changes[f.name] = scale_dtype
                else:
                    fallback = UNSET_FALLBACKS[name, f.name]
                    changes[f.name] = native.get(name, {}).get(f.name, fallback)
            values[name] = dataclasses.replace(settings, **changes)
        return QuantSpec(**values)

    def sections_of(self) -> dict[str, Any]:
        """{section name: this spec's settings of it}."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_items(cls, items: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]) -> QuantSpec:
        """The QuantSpec a RunSpec's ``quant`` holds (its values are already typed)."""
        sections = cls.sections()
        return cls(**{name: sections[name](**dict(values)) for name, values in items})
