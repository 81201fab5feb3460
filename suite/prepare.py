"""The prepare step of a run: the base model, calibration, the method's prepare, init metrics.

A prepared model (quantized base + initial adapters) depends on exactly what
:meth:`suite.spec.RunSpec.prepare_dict` holds, on the model's files (their fingerprint, not the
model's name), on the code that computes it (:func:`code_version`), the device type and the
dtype; :func:`prepare_key` hashes all of them, and the prepared model is cached on disk under
that key (:mod:`suite.prepared_cache`), checked against its recorded sha256 sums on every load
and rebuilt, with a one-line warning, where it fails them. The base model is loaded
once per model (:func:`load_base`); on a GPU it waits on the host and every prepare works on its
own GPU copy, so a 7B run never holds two full-precision models on the GPU.

Calibration windows are drawn once per model and calibration spec; a method gets them only when
it needs them with the quantizer it runs with (``needs_calibration_for``), and its block walk
counts towards the prepare phase. Every method, calibrating or not, is then scored on the
holdout windows (``init/calib_err``) from Gram matrices of the original model, computed once and
kept, verified the same way, under ``<cache>/calib/`` (see :mod:`suite.holdout`). ``qbench run``
and ``qbench bench`` both prepare through :func:`prepare_model`.

    >>> from pathlib import Path
    >>> from suite.context import RunContext, Settings
    >>> from suite.sweep import build_sweep
    >>> spec = build_sweep(methods="qlora", models="synthetic:tiny").specs[0]
    >>> ctx = RunContext.create(Settings(cache=Path("unused"), device="cpu"), "quick")
    >>> len(prepare_key(ctx, spec)), code_version(spec)
    (16, 'qlora=2;nf=2;harness=2')
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from suite import contract as C
from suite import models as model_lib
from suite import prepared_cache
from suite.checksum import discard
from suite.context import RunContext
from suite.contract import Tag
from suite.registry import methods
from suite.spec import RunSpec, key_of


@dataclass
class PrepareResult:
    """A prepared model with its init and prepare-phase metrics and per-layer table."""

    prepared: Any  # suite.lora.Prepared
    metrics: dict[str, float]
    table: list[dict]
    source: str = "built"  # or "cache": loaded from the prepared-model cache (the run's tag)


def method_of(spec: RunSpec) -> Any:
    """The method object a spec runs (its class with the spec's config and quant settings)."""
    from suite.quant.config import QuantSpec

    quant = QuantSpec.from_items(spec.quant)
    return methods()[spec.method].from_overrides(dict(spec.method_config), quant)


def changed_settings(spec: RunSpec) -> list[str]:
    """The method and quantizer settings of ``spec`` that differ from their released defaults
    (the config dataclasses' defaults; for the quantizers, the defaults as the method resolves
    them under the spec's budget), as ``key=value (released: default)``; only the
    ``quant.<name>`` sections the method's prepare reads are looked at."""
    import dataclasses

    from suite.quant.config import QuantSpec

    method = method_of(spec)
    out = []
    default = method.Config()
    for f in dataclasses.fields(method.config):
        mine, released = getattr(method.config, f.name), getattr(default, f.name)
        if mine != released:
            out.append(
                f"method.{spec.method}.{f.name}={_shown(mine)} (released: {_shown(released)})"
            )
    quant = method.resolve_quant(spec.budget)
    defaults = QuantSpec().resolved(spec.budget.scale_dtype, method.native_quant)
    for section in method.quant_sections(spec.budget):
        mine_s, released_s = getattr(quant, section), getattr(defaults, section)
        for f in dataclasses.fields(mine_s):
            mine, released = getattr(mine_s, f.name), getattr(released_s, f.name)
            if mine != released:
                out.append(
                    f"quant.{section}.{f.name}={_shown(mine)} (released: {_shown(released)})"
                )
    return out


def _shown(value: object) -> str:
    """A setting as ``--set`` spells it: a list comma-joined, an empty one (the grid's or
    the method's own choice) as ``all``."""
    if isinstance(value, tuple | list):
        return ",".join(map(str, value)) if value else "all"
    return str(value)


def code_version(spec: RunSpec) -> str:
    """The version of the code behind the spec's numbers: its method, quantizer, harness."""
    from suite.code_version import numbers_version

    method = method_of(spec)
    return numbers_version(method.name, method.quantizer_for(spec.budget))


def prepare_key(ctx: RunContext, spec: RunSpec) -> str:
    """The cache key of the spec's prepared model (see the module docs)."""
    from suite.calibration import source_id

    needs = method_of(spec).needs_calibration_for(spec.budget)
    # with real calibration data the key names the pinned packages too, so new pins never
    # reuse a model calibrated on other windows
    pinned = {"data_id": source_id(spec.data)} if needs and spec.data == "real" else {}
    return key_of(
        {
            "cache_format": prepared_cache.FORMAT,
            **spec.prepare_dict(needs),
            **pinned,
            "model_fingerprint": ctx.fingerprint(spec.model),
            "code_version": code_version(spec),
            "device_type": ctx.device_type,
            "dtype": ctx.dtype_name,
        }
    )


def load_base(ctx: RunContext, model_name: str) -> tuple[Any, Any]:
    """(base model, tokenizer) in the context's dtype; on a GPU the base waits on the host."""
    ref = model_lib.resolve(model_name)
    base, tokenizer = model_lib.load(
        ref, ctx.settings.cache, ctx.device, ctx.dtype, say=ctx.console.print
    )
    if ctx.is_cuda:
        import torch

        base.to("cpu")
        torch.cuda.empty_cache()
    return base, tokenizer


def prepare_model(ctx: RunContext, base: Any, tokenizer: Any, spec: RunSpec) -> PrepareResult:
    """Prepare ``spec``'s method on a copy of ``base`` (from the cache where allowed) and
    measure it: init metrics against the original weights and the prepare phase's cost."""
    from suite.init_metrics import check_budget, init_metrics
    from suite.lora import find_targets
    from suite.measure import Phase

    method = method_of(spec)
    budget = spec.budget
    model = copy.deepcopy(base).to(ctx.device)
    # the original weights, for the init metrics, are the base's own (on the host on a GPU run)
    targets = find_targets(base, budget.target_modules)
    originals = {n: m.weight.detach() for n, m in targets.items()}
    calibration, holdout = _calibration(ctx, model, tokenizer, spec)
    entry = prepared_cache.entry(ctx.settings.cache, prepare_key(ctx, spec))
    with Phase("prepare", ctx.device) as phase:
        prepared = None
        if ctx.settings.use_cache and entry.is_dir():
            try:
                prepared = prepared_cache.load(model, entry)
                ctx.console.print(f"[dim]prepared model from cache {entry}")
            except prepared_cache.Damaged as err:
                ctx.console.print(f"[yellow]warning: {err}; rebuilding it", highlight=False)
                discard(entry)
        built = prepared is None
        if built:
            tick = ctx.bars.add(f"prepare {spec.method} {spec.budget.bits}-bit {spec.model}")
            if method.needs_calibration_for(budget):  # the walk ticks once per block
                given = calibration.with_progress(tick)
                prepared = method.prepare(model, budget, given, seed=spec.seed)
            else:
                tick(0, total=len(originals))
                prepared = method.prepare(model, budget, None, seed=spec.seed)
                tick(len(originals))
            check_budget(prepared, budget, spec.method)  # before it is cached
    assert prepared is not None
    device = ctx.tags[Tag.DEVICE]
    cost = {**phase.metrics(), Tag.DEVICE: device}
    if built and ctx.settings.use_cache and prepared_cache.cacheable(prepared):
        prepared_cache.save(prepared, entry, cost)
    errors = holdout.errors(prepared, originals)
    metrics, table = init_metrics(prepared, originals, errors, budget)
    stored = None if built else prepared_cache.build_cost(entry)
    metrics.update(_prepare_cost(phase, built, stored, device))
    return PrepareResult(prepared, metrics, table, "built" if built else "cache")


def _prepare_cost(phase: Any, built: bool, stored: dict | None, device: str) -> dict[str, float]:
    """The prepare phase's metrics: measured here for a model built here; for one loaded from
    the cache, what building it took (stored with the entry) where it was built on the same
    device, else nothing; never the load time, which is ``prepare/cache_load_s``.

        >>> from types import SimpleNamespace as NS
        >>> phase = NS(wall_s=0.5, metrics=lambda: {"prepare/wall_s": 0.5})
        >>> _prepare_cost(phase, True, None, "H200")
        {'prepare/wall_s': 0.5}
        >>> _prepare_cost(phase, False, {"prepare/wall_s": 40.0, "device": "H200"}, "H200")
        {'prepare/wall_s': 40.0, 'prepare/cache_load_s': 0.5}
        >>> _prepare_cost(phase, False, {"prepare/wall_s": 40.0, "device": "cpu"}, "H200")
        {'prepare/cache_load_s': 0.5}
    """
    if built:
        return phase.metrics()
    loaded = {C.PREPARE_CACHE_LOAD: phase.wall_s}
    if stored is None or stored.get(Tag.DEVICE) != device:
        return loaded
    return {**{k: float(v) for k, v in stored.items() if k != Tag.DEVICE}, **loaded}


def _calibration(ctx: RunContext, model: Any, tokenizer: Any, spec: RunSpec) -> tuple[Any, Any]:
    """(Calibration, HoldoutGrams) for the spec's calibration settings, built once per model.

    ``model`` must still be the original: the holdout Grams are computed from it when they are
    not on disk yet.
    """
    from suite.calibration import build_calibration
    from suite.holdout import HoldoutGrams, holdout_key

    key = key_of({"model": spec.model, "calib": spec.to_dict()["calib"], "data": spec.data})
    if key not in ctx.calibrations:
        calib = build_calibration(model, tokenizer, spec, ctx.device, cache=ctx.settings.cache)
        dtype = next(model.parameters()).dtype
        name = holdout_key(ctx.fingerprint(spec.model), calib, dtype)
        grams = HoldoutGrams.build(
            model, calib, ctx.settings.cache / "calib" / name, say=_warn(ctx)
        )
        ctx.calibrations[key] = (calib, grams)
    return ctx.calibrations[key]


def _warn(ctx: RunContext):
    def say(message: str) -> None:
        ctx.console.print(f"[yellow]{message}", highlight=False)

    return say
