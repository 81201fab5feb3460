"""Runs a sweep: skip finished runs, prepare (cached), train, evaluate, record.

Each RunSpec of ``sweep.specs`` becomes one MLflow run. The base model is loaded once per model;
a prepared model (see :mod:`suite.prepare`) is computed once per prepare key and copied for
every task and seed that shares it. A run that raises is recorded FAILED with its error and the
sweep goes on; the next ``qbench run`` picks it up again. Before anything is recorded, every
group size is checked against its model's layer widths (from the model's config alone).

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
from suite.context import RunContext, Settings
from suite.prepare import PrepareResult, load_base, prepare_key, prepare_model
from suite.progress import Bars
from suite.registry import tasks
from suite.spec import RunSpec, run_key
from suite.sweep import Sweep
from suite.tracking import Tracker

__all__ = ["Settings", "Summary", "check_widths", "run_name", "run_sweep"]


@dataclass
class Summary:
    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def run_name(spec: RunSpec) -> str:
    return f"{spec.method}-b{spec.budget.bits}-r{spec.budget.rank}-{spec.task}-s{spec.seed}"


def check_widths(specs: list[RunSpec] | tuple[RunSpec, ...], cache, console: Console) -> None:
    """Every group size must divide its model's target input widths (config only, no weights)."""
    from suite.lora import check_group_size

    for model_name in dict.fromkeys(s.model for s in specs):
        widths = model_lib.input_widths(model_lib.resolve(model_name), cache, say=console.print)
        for spec in specs:
            if spec.model == model_name:
                check_group_size(widths, spec.budget)


def pull_data(specs, settings: Settings, console: Console) -> None:
    """Fetch the ``real`` data source into the cache on first use (a one-line error, before
    anything is recorded, when it cannot be had)."""
    if any(s.data == "real" for s in specs):
        from tasks import real

        if not real.is_pulled(settings.cache):
            console.print("pulling the real data source (once; `qbench data pull` does it too)")
        real.pull(settings.cache, console=console, progress=settings.progress)


def run_sweep(
    sweep: Sweep, tracker: Tracker, settings: Settings, console: Console | None = None
) -> Summary:
    """Run every spec of ``sweep`` that has no FINISHED run yet (all of them with --force)."""
    console = console or Console(stderr=True)
    check_widths(sweep.specs, settings.cache, console)  # before the store is touched
    pull_data(sweep.specs, settings, console)
    summary = Summary()
    todo = _to_run(sweep.specs, tracker, settings, console, summary)
    if not todo:
        return summary
    with Bars(console, enabled=settings.progress) as bars:
        ctx = RunContext.create(settings, sweep.profile, tracker, console, bars)
        for model_name in dict.fromkeys(s.model for s in todo):
            _run_model(ctx, model_name, [s for s in todo if s.model == model_name], summary)
            ctx.calibrations.clear()
    return summary


def _to_run(specs, tracker: Tracker, settings: Settings, console: Console, summary: Summary):
    todo: list[RunSpec] = []
    for spec in specs:
        key = run_key(spec)
        reaped = tracker.reap_interrupted(key)
        if reaped:
            console.print(f"[yellow]{run_name(spec)}: {reaped} interrupted run(s) marked FAILED")
        if not settings.force and tracker.finished(key):
            summary.skipped.append(key)
            console.print(f"[dim]skip {run_name(spec)} ({key}): already FINISHED")
        else:
            todo.append(spec)
    console.print(
        f"{len(specs)} run(s) in the sweep: {len(todo)} to run, {len(summary.skipped)} finished "
        f"already{' (use --force to rerun)' if summary.skipped else ''}"
    )
    return todo


def _run_model(ctx: RunContext, model_name: str, specs: list[RunSpec], summary: Summary) -> None:
    base, tokenizer = load_base(ctx, model_name)
    by_prepare: dict[str, list[RunSpec]] = {}
    for spec in specs:
        by_prepare.setdefault(prepare_key(spec), []).append(spec)
    for group in by_prepare.values():
        runs = {run_key(s): _start(ctx, s) for s in group}
        try:
            prep = prepare_model(ctx, base, tokenizer, group[0])
        except Exception as err:  # the whole group fails with the same reason
            for spec in group:
                _fail(ctx, runs[run_key(spec)], spec, err, summary)
            continue
        for i, spec in enumerate(group):
            last = i == len(group) - 1  # the last run trains the prepared model itself
            model = prep.prepared.model if last else copy.deepcopy(prep.prepared.model)
            run_id = runs[run_key(spec)]
            try:
                _train_evaluate(ctx, run_id, spec, model, tokenizer, prep)
                summary.finished.append(run_key(spec))
                ctx.console.print(f"[green]done[/] {run_name(spec)}")
            except Exception as err:
                _fail(ctx, run_id, spec, err, summary)
            del model


def _start(ctx: RunContext, spec: RunSpec) -> str:
    """Create the spec's run (RUNNING) with its identity tags and the flattened spec."""
    from tasks.base import parse_source

    task = tasks()[spec.task]()
    source = parse_source(spec.data, ctx.settings.cache)
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
        run_key=run_key(spec),
        **ctx.tags,
    )
    if source.kind == "real":
        from tasks.real import packages_record

        tags.update(C.run_tags(data_packages=packages_record()))
    return ctx.tracker.start(run_name(spec), tags, spec.flat_params())


def _train_evaluate(
    ctx: RunContext, run_id: str, spec: RunSpec, model: Any, tokenizer: Any, prep: PrepareResult
) -> None:
    """Record the prepare step's results, fine-tune, evaluate, record, and finish the run."""
    from suite.measure import Phase
    from suite.quant.qlinear import dense_bases
    from suite.train import train
    from tasks.base import parse_source

    tracker = ctx.tracker
    task = tasks()[spec.task]()
    source = parse_source(spec.data, ctx.settings.cache)
    prepared = prep.prepared
    tracker.tag(run_id, C.run_tags(storage=prepared.storage, quantizer=prepared.quantizer))
    tracker.metrics(run_id, prep.metrics)
    tracker.json(run_id, prep.table, "init_layers.json")
    record = {**spec.to_dict(), "run_key": run_key(spec), "method_info": prepared.info}
    tracker.json(run_id, record, "spec.json")
    tracker.json(run_id, task.data_record(source), "data.json")
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
    with Phase("eval", ctx.device) as phase, dense_bases(model):
        tick = ctx.bars.add(f"eval {run_name(spec)}")
        evaluation = task.evaluate(model, tokenizer, spec.eval, source, tick)
    metrics = {C.eval_metric(spec.task, k): v for k, v in evaluation.metrics.items()}
    metrics[C.EVAL_TOKENS_PER_S] = evaluation.tokens / phase.wall_s if phase.wall_s else 0.0
    tracker.metrics(run_id, {**metrics, **phase.metrics()})
    rows = "\n".join(json.dumps(r, default=str) for r in evaluation.rows)
    tracker.text(run_id, rows + "\n", f"predictions/{spec.task}.jsonl")
    tracker.finish(run_id, C.FINISHED)


def _fail(ctx: RunContext, run_id: str, spec: RunSpec, err: Exception, summary: Summary) -> None:
    reason = f"{type(err).__name__}: {err}"
    ctx.tracker.finish(run_id, C.FAILED, reason + "\n" + traceback.format_exc()[-3000:])
    summary.failed.append((run_key(spec), reason))
    ctx.console.print(f"[red]FAILED[/] {run_name(spec)}: {reason}")
