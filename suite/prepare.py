"""The prepare step of a run: the base model, calibration, the method's prepare, init metrics.

A prepared model (quantized base + initial adapters) depends on exactly what
:meth:`suite.spec.RunSpec.prepare_dict` holds; :func:`prepare_key` hashes it, and the prepared
model is cached on disk under that key (:mod:`suite.prepared_cache`). The base model is loaded
once per model (:func:`load_base`); on a GPU it waits on the host and every prepare works on its
own GPU copy, so a 7B run never holds two full-precision models on the GPU.

Calibration windows are drawn once per model and calibration spec; a method gets them only when
it needs them with the quantizer it runs with (``needs_calibration_for``), and its block walk
counts towards the prepare phase. Every method, calibrating or not, is then scored on the
holdout windows (``init/calib_err``) from Gram matrices of the original model, computed once and
kept under ``<cache>/calib/`` (see :mod:`suite.holdout`). ``qbench run`` and ``qbench bench``
both prepare through :func:`prepare_model`.

    >>> from suite.sweep import build_sweep
    >>> spec = build_sweep(methods="qlora", models="synthetic:tiny").specs[0]
    >>> len(prepare_key(spec)), method_of(spec).name
    (16, 'qlora')
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from suite import models as model_lib
from suite import prepared_cache
from suite.context import RunContext
from suite.registry import methods
from suite.spec import RunSpec, key_of


@dataclass
class PrepareResult:
    """A prepared model with its init and prepare-phase metrics and per-layer table."""

    prepared: Any  # suite.lora.Prepared
    metrics: dict[str, float]
    table: list[dict]


def method_of(spec: RunSpec) -> Any:
    """The method object a spec runs (its class with the spec's config)."""
    return methods()[spec.method].from_overrides(dict(spec.method_config))


def prepare_key(spec: RunSpec) -> str:
    """The prepared model's cache key; with ``real`` calibration data it names the pinned
    packages too, so new pins never reuse a model calibrated on other windows."""
    from suite.calibration import source_id

    needs = method_of(spec).needs_calibration_for(spec.budget)
    pinned = {"data_id": source_id(spec.data)} if needs and spec.data == "real" else {}
    return key_of({"cache_format": prepared_cache.FORMAT, **spec.prepare_dict(needs), **pinned})


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
    from suite.init_metrics import init_metrics
    from suite.lora import find_targets
    from suite.measure import Phase

    method = method_of(spec)
    budget = spec.budget
    model = copy.deepcopy(base).to(ctx.device)
    # the original weights, for the init metrics, are the base's own (on the host on a GPU run)
    targets = find_targets(base, budget.target_modules)
    originals = {n: m.weight.detach() for n, m in targets.items()}
    calibration, holdout = _calibration(ctx, model, tokenizer, spec)
    entry = ctx.settings.cache / "prepared" / prepare_key(spec)
    with Phase("prepare", ctx.device) as phase:
        if ctx.settings.use_cache and entry.is_dir():
            ctx.console.print(f"[dim]prepared model from cache {entry}")
            prepared = prepared_cache.load(model, entry)
        else:
            tick = ctx.bars.add(f"prepare {spec.method} {spec.budget.bits}-bit")
            if method.needs_calibration_for(budget):  # the walk ticks once per block
                given = calibration.with_progress(tick)
                prepared = method.prepare(model, budget, given, seed=spec.seed)
            else:
                tick(0, total=len(originals))
                prepared = method.prepare(model, budget, None, seed=spec.seed)
                tick(len(originals))
            if ctx.settings.use_cache and prepared_cache.cacheable(prepared):
                prepared_cache.save(prepared, entry)
    metrics, table = init_metrics(prepared, originals, holdout.errors(prepared, originals))
    metrics.update(phase.metrics())
    return PrepareResult(prepared, metrics, table)


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
        path = ctx.settings.cache / "calib" / holdout_key(spec.model, calib, dtype)
        ctx.calibrations[key] = (calib, HoldoutGrams.build(model, calib, path))
    return ctx.calibrations[key]
