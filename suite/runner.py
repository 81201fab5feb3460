"""Runs a sweep: skip finished runs, prepare (cached), train, evaluate, record.

Each RunSpec of ``sweep.specs`` becomes one MLflow run, found again by its run key (the spec,
the device type and the dtype). A FINISHED run counts only while it is fresh: made from the same
model files (their fingerprint) with the same code version; otherwise it runs again and the new
run supersedes it. The base model is loaded once per model; a prepared model (see
:mod:`suite.prepare`) is computed once per prepare key and copied for every task and seed that
shares it. Before a prepare group starts, its keys are claimed (:mod:`suite.claims`): a key that
another live process holds, or has just finished, is skipped with a line saying so, so sweeps
that overlap on one store run each key once. The workers of ``--workers N`` claim a group's runs
one at a time instead, and share its tasks (:mod:`suite.share`). A run that raises is recorded
FAILED with its error and the sweep goes on; the next ``qbench run`` picks it up again. On
SIGINT or SIGTERM every run the sweep holds is marked FAILED ("interrupted") before the process
ends. Before anything is recorded, every budget is checked against its model's layers (target
names, rank, group size; from the model's config alone). The Ray executor (:mod:`suite.cluster`)
runs the same steps (:func:`to_run`, :func:`claim_runs`, :func:`train_evaluate_finish`) in its
tasks.

    >>> from suite.sweep import build_sweep
    >>> run_name(build_sweep(methods="cloq", bits="2", models="synthetic:tiny").specs[0])
    'cloq-b2-r64-wikitext2-s0'
"""

from __future__ import annotations

import copy
import json
import traceback
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from suite import contract as C
from suite import models as model_lib
from suite.budget import ACCOUNTING
from suite.claims import Claims, Want, first_of
from suite.context import RunContext, Settings
from suite.interrupt import Interrupted, signals_ignored, signals_raise
from suite.prepare import (
    PrepareResult,
    changed_settings,
    code_version,
    load_base,
    prepare_key,
    prepare_model,
)
from suite.progress import Bars, LineBars
from suite.registry import methods, tasks
from suite.share import Share, Steps, shares_groups
from suite.spec import RunSpec, run_key
from suite.sweep import Sweep
from suite.tracking import Tracker

__all__ = [
    "Settings",
    "Summary",
    "check_layers",
    "claim_runs",
    "failure_text",
    "key_of_run",
    "record_failure",
    "run_name",
    "run_sweep",
    "to_run",
    "train_evaluate_finish",
]


class NonFiniteMetric(ArithmeticError):
    """A run measured NaN or ±inf (its message is :func:`suite.contract.nonfinite_reason`)."""


def _require_finite(values: dict[str, float]) -> None:
    reason = C.nonfinite_reason(values)
    if reason:
        raise NonFiniteMetric(reason)


@dataclass
class Summary:
    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    why_skipped: dict[str, str] = field(default_factory=dict)  # run key -> why, on one line


def run_name(spec: RunSpec) -> str:
    return f"{spec.method}-b{spec.budget.bits}-r{spec.budget.rank}-{spec.task}-s{spec.seed}"


def check_layers(specs: list[RunSpec] | tuple[RunSpec, ...], cache, console: Console) -> None:
    """Every budget must fit its model's target layers (names, rank, group size), checked from
    the model's config alone, before any run starts."""
    from suite import lora

    for model_name in dict.fromkeys(s.model for s in specs):
        shapes = model_lib.layer_shapes(model_lib.resolve(model_name), cache, say=console.print)
        for budget in dict.fromkeys(s.budget for s in specs if s.model == model_name):
            lora.check_layers(shapes, budget, model_name)


def pull_data(specs, settings: Settings, console: Console) -> None:
    """Fetch the ``real`` data source into the cache on first use (a one-line error, before
    anything is recorded, when it cannot be had)."""
    if any(s.data == "real" for s in specs):
        from tasks import real

        if not real.is_pulled(settings.cache):
            console.print("pulling the real data source (once; `qbench data pull` does it too)")
        real.pull(settings.cache, console=console, progress=settings.progress)


def _bars(settings: Settings, console: Console) -> Bars | LineBars:
    """Progress bars on a terminal; a worker of ``--workers N`` (no bars) says it in lines
    that its coordinator passes on."""
    if settings.progress or settings.workers <= 1:
        return Bars(console, enabled=settings.progress)
    return LineBars(lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True))


def run_sweep(
    sweep: Sweep, tracker: Tracker, settings: Settings, console: Console | None = None
) -> Summary:
    """Run every spec of ``sweep`` that has no fresh FINISHED run yet (all of them with
    --force), skipping keys another live process holds. Raises Interrupted on SIGINT/SIGTERM
    after marking the runs it held FAILED."""
    console = console or Console(stderr=True)
    check_layers(sweep.specs, settings.cache, console)  # before the store is touched
    pull_data(sweep.specs, settings, console)
    summary = Summary()
    ctx = RunContext.create(settings, sweep.profile, tracker, console)
    todo = to_run(ctx, sweep.specs, summary)
    if not todo:
        return summary
    claims = Claims(tracker, force=settings.force)
    try:
        with signals_raise(), _bars(settings, console) as bars:
            ctx.bars = bars
            models = list(dict.fromkeys(s.model for s in todo))
            order = first_of(models, settings.worker, settings.workers)
            if shares_groups(ctx):  # workers split prepare groups task by task
                share = Share(ctx, claims, _steps(ctx, claims, summary))
                for model_name in order:
                    share.add(model_name, [s for s in todo if s.model == model_name])
                share.run()
            else:
                for model_name in order:
                    specs = [s for s in todo if s.model == model_name]
                    _run_model(ctx, claims, model_name, specs, summary)
                    ctx.calibrations.clear()
    except (Interrupted, KeyboardInterrupt) as err:
        stop = err if isinstance(err, Interrupted) else Interrupted(2)
        with signals_ignored():
            stop.failed = claims.interrupt(f"interrupted: {stop.name}")
        raise stop from None
    except BaseException as err:  # e.g. the base model cannot be loaded: no run stays RUNNING
        with signals_ignored():
            claims.interrupt(f"{type(err).__name__}: {err}")
        raise
    finally:
        claims.close()
    return summary


def key_of_run(ctx: RunContext, spec: RunSpec) -> str:
    return run_key(spec, ctx.device_type, ctx.dtype_name)


def fresh_tags(ctx: RunContext, spec: RunSpec) -> dict[str, str]:
    """The tags a FINISHED run of the spec must carry to count as done: the code version, the
    model's fingerprint and, on the real data source, its pinned packages."""
    fresh = C.run_tags(
        code_version=code_version(spec), model_fingerprint=ctx.fingerprint(spec.model)
    )
    if spec.data == "real":
        from tasks.real import packages_record

        fresh.update(C.run_tags(data_packages=packages_record()))
    return fresh


def to_run(ctx: RunContext, specs, summary: Summary) -> list[RunSpec]:
    """The specs that have no fresh FINISHED run (all of them with --force); the others are
    skipped, each with a line saying so. Both executors start from this list."""
    todo: list[RunSpec] = []
    for spec in specs:
        key = key_of_run(ctx, spec)
        finished = [r for r in ctx.tracker.runs(key) if r.info.status == C.FINISHED]
        fresh = fresh_tags(ctx, spec)
        current = [r for r in finished if all(r.data.tags.get(k) == v for k, v in fresh.items())]
        if not ctx.settings.force and current:
            summary.skipped.append(key)
            summary.why_skipped[key] = "already FINISHED"
            ctx.console.print(f"[dim]skip {run_name(spec)} ({key}): already FINISHED")
            continue
        if finished and not current:
            ctx.console.print(
                f"[yellow]{run_name(spec)} ({key}): its FINISHED run is stale (made from other "
                "model files or another code version); running it again"
            )
        todo.append(spec)
    ctx.console.print(
        f"{len(specs)} run(s) in the sweep: {len(todo)} to run, {len(summary.skipped)} finished "
        f"already{' (use --force to rerun)' if summary.skipped else ''}"
    )
    return todo


def _steps(ctx: RunContext, claims: Claims, summary: Summary) -> Steps:
    """This runner's steps for :class:`suite.share.Share`, bound to the sweep's state."""

    def fail(run_id: str, spec: RunSpec, err: Exception) -> None:
        record_failure(ctx, claims, run_id, spec, *failure_text(err), summary)

    return Steps(
        want=lambda spec: want_of(ctx, spec),
        fail=fail,
        make=lambda run_id, spec, model, tokenizer, prep: train_evaluate_finish(
            ctx, claims, run_id, spec, model, tokenizer, prep, summary
        ),
    )


def _run_model(
    ctx: RunContext, claims: Claims, model_name: str, specs: list[RunSpec], summary: Summary
) -> None:
    loaded: tuple[Any, Any] | None = None  # (base, tokenizer), once a run is claimed
    by_prepare: dict[str, list[RunSpec]] = {}
    for spec in specs:
        by_prepare.setdefault(prepare_key(ctx, spec), []).append(spec)
    groups = first_of(list(by_prepare.values()), ctx.settings.worker, ctx.settings.workers)
    for candidates in groups:
        runs = claim_runs(ctx, claims, candidates, summary)
        group = [s for s in candidates if key_of_run(ctx, s) in runs]
        if not group:
            continue
        if loaded is None:
            loaded = load_base(ctx, model_name)
        try:
            prep = prepare_model(ctx, loaded[0], loaded[1], group[0])
        except Exception as err:  # the whole group fails with the same reason
            for spec in group:
                run_id = runs[key_of_run(ctx, spec)]
                record_failure(ctx, claims, run_id, spec, *failure_text(err), summary)
            continue
        for i, spec in enumerate(group):
            last = i == len(group) - 1  # the last run trains the prepared model itself
            model = prep.prepared.model if last else copy.deepcopy(prep.prepared.model)
            run_id = runs[key_of_run(ctx, spec)]
            train_evaluate_finish(ctx, claims, run_id, spec, model, loaded[1], prep, summary)
            del model


def train_evaluate_finish(
    ctx: RunContext,
    claims: Claims,
    run_id: str,
    spec: RunSpec,
    model: Any,
    tokenizer: Any,
    prep: PrepareResult,
    summary: Summary,
) -> None:
    """Train and evaluate a held run's prepared model, then release the run: FINISHED, or
    FAILED with its error (the sweep goes on)."""
    try:
        _train_evaluate(ctx, run_id, spec, model, tokenizer, prep)
        claims.release(run_id)
        summary.finished.append(key_of_run(ctx, spec))
        ctx.console.print(f"[green]done[/] {run_name(spec)}")
    except Exception as err:
        record_failure(ctx, claims, run_id, spec, *failure_text(err), summary)


def claim_runs(
    ctx: RunContext, claims: Claims, specs: list[RunSpec], summary: Summary
) -> dict[str, str]:
    """Claim the specs' run keys; {run key: run id} of those this process now holds. The
    others are skipped, with a line saying why (finished or held by another process)."""
    outcomes = claims.claim([want_of(ctx, s) for s in specs])
    held: dict[str, str] = {}
    for spec, outcome in zip(specs, outcomes, strict=True):
        key = outcome.want.run_key
        if outcome.reaped:
            ctx.console.print(
                f"[yellow]{run_name(spec)}: {outcome.reaped} interrupted run(s) marked FAILED"
            )
        if outcome.run_id is not None:
            held[key] = outcome.run_id
            continue
        summary.skipped.append(key)
        what = "FINISHED by another process" if outcome.why == "done" else outcome.why
        summary.why_skipped[key] = what
        ctx.console.print(f"[yellow]skip {run_name(spec)} ({key}): {what}")
    return held


def want_of(ctx: RunContext, spec: RunSpec) -> Want:
    """The spec's run: its identity tags (with the context's own: device, versions, profile,
    and under Ray the task attempt) and the flattened spec."""
    from tasks.base import parse_source

    task = tasks()[spec.task]()
    source = parse_source(spec.data, ctx.settings.cache)
    key = key_of_run(ctx, spec)
    fresh = fresh_tags(ctx, spec)
    tags = C.run_tags(
        method=spec.method,
        model=spec.model,
        bits=str(spec.budget.bits),
        group_size=str(spec.budget.group_size),
        rank=str(spec.budget.rank),
        task=spec.task,
        protocol=task.protocol_name(spec.eval, source),
        task_version=spec.task_version,
        data_source=source.tag,
        seed=str(spec.seed),
        run_key=key,
        device_type=ctx.device_type,
        dtype=ctx.dtype_name,
        changed_settings="; ".join(changed_settings(spec)),
        **fresh,
        **ctx.tags,
    )
    lora_source = methods()[spec.method].lora_source or "the method's class"
    params = {
        **spec.flat_params(),
        C.ACCOUNTING_PARAM: ACCOUNTING,
        C.LORA_SOURCE_PARAM: lora_source,
    }
    return Want(key, run_name(spec), tags, params, fresh)


def _train_evaluate(
    ctx: RunContext, run_id: str, spec: RunSpec, model: Any, tokenizer: Any, prep: PrepareResult
) -> None:
    """Record the prepare step's results, fine-tune, evaluate, record, and finish the run."""
    from suite.measure import Phase
    from suite.quant.eval_bases import evaluation_bases
    from suite.train import train
    from tasks.base import parse_source

    tracker = ctx.tracker
    task = tasks()[spec.task]()
    source = parse_source(spec.data, ctx.settings.cache)
    prepared = prep.prepared
    tags = C.run_tags(storage=prepared.storage, quantizer=prepared.quantizer, prepared=prep.source)
    tracker.tag(run_id, tags)
    tracker.metrics(run_id, prep.metrics)
    tracker.json(run_id, prep.table, "init_layers.json")
    record = {**spec.to_dict(), "run_key": key_of_run(ctx, spec), "method_info": prepared.info}
    tracker.json(run_id, record, C.SPEC_ARTIFACT)
    tracker.json(run_id, task.data_record(source), C.DATA_ARTIFACT)
    _require_finite(prep.metrics)  # recorded, so the bad value can be seen; then FAILED
    examples = task.train_data(
        tokenizer, spec.train.seq_len, source, spec.train.max_examples, spec.eval.protocol
    )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with Phase("train", ctx.device) as phase:
        tick = ctx.bars.add(f"train {run_name(spec)}")
        result = train(model, examples, spec.train, ctx.device, spec.seed, pad, tick)
    tracker.series(run_id, C.TRAIN_LOSS, result.losses)
    trained = {
        C.TRAIN_TOKENS_PER_S: result.tokens_per_s,
        C.TRAIN_STEPS: result.steps,
        C.TRAIN_TOKENS: result.tokens,
    }
    tracker.metrics(run_id, {**phase.metrics(), **trained})
    tracker.adapters(run_id, model)  # the fine-tuned A and B, for export and later evaluation
    with Phase("eval", ctx.device) as phase, evaluation_bases(model, spec.eval.batch_size):
        tick = ctx.bars.add(f"eval {run_name(spec)}")
        evaluation = task.evaluate(model, tokenizer, spec.eval, source, tick)
    metrics = {C.eval_metric(spec.task, k): v for k, v in evaluation.metrics.items()}
    metrics[C.EVAL_TOKENS_PER_S] = evaluation.tokens / phase.wall_s if phase.wall_s else 0.0
    tracker.metrics(run_id, {**metrics, **phase.metrics()})
    rows = "\n".join(json.dumps(r, default=str) for r in evaluation.rows)
    tracker.text(run_id, rows + "\n", f"predictions/{spec.task}.jsonl")
    _require_finite({**trained, **metrics})
    tracker.finish(run_id, C.FINISHED)


def failure_text(err: Exception) -> tuple[str, str]:
    """(reason, error) of an exception being handled: the reason on one line, the error with
    its traceback (none for a non-finite metric: a measurement, not a crash)."""
    if isinstance(err, NonFiniteMetric):
        return str(err), str(err)
    reason = f"{type(err).__name__}: {err}"
    return reason, reason + "\n" + traceback.format_exc()[-3000:]


def record_failure(
    ctx: RunContext,
    claims: Claims,
    run_id: str,
    spec: RunSpec,
    reason: str,
    error: str,
    summary: Summary,
) -> None:
    """Mark a held run FAILED with its error and its one-line reason, and release it."""
    ctx.tracker.fail(run_id, reason, error)
    claims.release(run_id)
    summary.failed.append((key_of_run(ctx, spec), reason))
    ctx.console.print(f"[red]FAILED[/] {run_name(spec)}: {reason}")
