"""Runs a sweep: expand, skip finished runs, prepare (cached), train, evaluate, record.

Each RunSpec becomes one MLflow run. The base model is loaded once per model; a prepared model
(quantized base + initial adapters) is computed once per prepare key, cached on disk, and copied
for every task and seed that shares it. A run that raises is recorded FAILED with its error and
the sweep goes on; the next ``qbench run`` picks it up again.

Calibration windows are drawn once per model and calibration spec; a method gets them only when
it needs them with the quantizer it runs with (``needs_calibration_for``), and its block walk
counts towards the prepare phase. Every method, calibrating or not, is then scored on the
holdout windows (``init/calib_err``) from Gram matrices of the original model, computed once and
kept under ``<cache>/calib/`` (see :mod:`suite.holdout`).

    >>> # summary = run_sweep(sweep, tracker, Settings(cache=Path("~/.cache/qbench")))
"""

from __future__ import annotations

import copy
import json
import platform
import subprocess
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console

from suite import models as model_lib
from suite import prepared_cache
from suite.init_metrics import init_metrics
from suite.measure import Phase
from suite.progress import Bars
from suite.registry import METHODS, TASKS
from suite.registry import load as load_entry
from suite.spec import RunSpec, key_of, run_key
from suite.sweep import Sweep, expand
from suite.tracking import Tracker


@dataclass(frozen=True)
class Settings:
    cache: Path
    device: str = "auto"
    force: bool = False
    use_cache: bool = True
    progress: bool = True


@dataclass
class Summary:
    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def pick_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()})"


def qbench_version() -> str:
    try:
        return metadata.version("qbench")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def git_sha() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_name(spec: RunSpec) -> str:
    return f"{spec.method}-b{spec.budget.bits}-r{spec.budget.rank}-{spec.task}-s{spec.seed}"


def method_of(spec: RunSpec):
    return load_entry(METHODS[spec.method]).from_overrides(dict(spec.method_config))


def prepare_key(spec: RunSpec) -> str:
    needs = method_of(spec).needs_calibration_for(spec.budget)
    return key_of({"cache_format": prepared_cache.FORMAT, **spec.prepare_dict(needs)})


def check_widths(specs: list[RunSpec], cache: Path, console: Console) -> None:
    """Every group size must divide its model's target input widths (config only, no weights)."""
    from suite.lora import check_group_size

    for model_name in dict.fromkeys(s.model for s in specs):
        widths = model_lib.input_widths(model_lib.resolve(model_name), cache, say=console.print)
        for spec in specs:
            if spec.model == model_name:
                check_group_size(widths, spec.budget)


def run_sweep(
    sweep: Sweep, tracker: Tracker, settings: Settings, console: Console | None = None
) -> Summary:
    console = console or Console(stderr=True)
    specs = expand(sweep)
    check_widths(specs, settings.cache, console)
    summary = Summary()
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
    if not todo:
        return summary
    device = pick_device(settings.device)
    context = {
        "device": device,
        "device_name": device_name(device),
        "qbench_version": qbench_version(),
        "git_sha": git_sha(),
        "profile": sweep.profile,
    }
    with Bars(console, enabled=settings.progress) as bars:
        for model_name in dict.fromkeys(s.model for s in todo):
            group = [s for s in todo if s.model == model_name]
            _run_model(model_name, group, tracker, settings, context, bars, console, summary)
    return summary


def _run_model(model_name, specs, tracker, settings, context, bars, console, summary) -> None:
    import torch

    device = context["device"]
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    ref = model_lib.resolve(model_name)
    base, tokenizer = model_lib.load(ref, settings.cache, device, dtype, say=console.print)
    if device.startswith("cuda"):
        # the original waits on the host: each prepare works on its own GPU copy, so a 7B run
        # never holds two full-precision models on the GPU
        base.to("cpu")
        torch.cuda.empty_cache()
    by_prepare: dict[str, list[RunSpec]] = {}
    for spec in specs:
        by_prepare.setdefault(prepare_key(spec), []).append(spec)
    calibrations: dict[str, tuple] = {}  # per calibration spec and data: (Calibration, Grams)
    for pkey, group in by_prepare.items():
        runs = {
            run_key(s): tracker.start(run_name(s), _tags(s, context, "pending"), s.flat_params())
            for s in group
        }
        try:
            prepared, prep_metrics, table = prepare_model(
                base, tokenizer, group[0], pkey, settings, device, bars, console, calibrations
            )
        except Exception as err:  # the whole group fails with the same reason
            for spec in group:
                _fail(tracker, runs[run_key(spec)], spec, err, summary, console)
            continue
        for i, spec in enumerate(group):
            model = prepared.model if i == len(group) - 1 else copy.deepcopy(prepared.model)
            run_id = runs[run_key(spec)]
            try:
                _train_eval_record(
                    model,
                    tokenizer,
                    spec,
                    run_id,
                    prepared,
                    prep_metrics,
                    table,
                    tracker,
                    context,
                    bars,
                )
                summary.finished.append(run_key(spec))
                console.print(f"[green]done[/] {run_name(spec)}")
            except Exception as err:
                _fail(tracker, run_id, spec, err, summary, console)
            del model


def _calibration(model, tokenizer, spec, settings, device, calibrations):
    """(Calibration, HoldoutGrams) for the spec's calibration settings, built once per model.

    ``model`` must still be the original: the holdout Grams are computed from it when they are
    not on disk yet.
    """
    from suite.calibration import build_calibration
    from suite.holdout import HoldoutGrams, holdout_key

    key = key_of({"calib": spec.to_dict()["calib"], "data": spec.data})
    if key not in calibrations:
        calib = build_calibration(model, tokenizer, spec, device)
        dtype = next(model.parameters()).dtype
        path = settings.cache / "calib" / holdout_key(spec.model, calib, dtype)
        calibrations[key] = (calib, HoldoutGrams.build(model, calib, path))
    return calibrations[key]


def prepare_model(base, tokenizer, spec, pkey, settings, device, bars, console, calibrations):
    """(Prepared, init and prepare-phase metrics, per-layer table) of one prepare key.

    ``base`` is never modified: the method works on a copy on ``device``. ``calibrations``
    caches the calibration windows and holdout Grams across calls (see :func:`_calibration`).
    """
    from suite.lora import find_targets
    from suite.spec import Budget

    method = method_of(spec)
    budget: Budget = spec.budget
    model = copy.deepcopy(base).to(device)
    # the original weights, for the init metrics, are the base's own (on the host on a GPU run)
    originals = {n: m.weight.detach() for n, m in find_targets(base, budget.target_modules).items()}
    calibration, holdout = _calibration(model, tokenizer, spec, settings, device, calibrations)
    entry = settings.cache / "prepared" / pkey
    with Phase("prepare", device) as phase:
        if settings.use_cache and entry.is_dir():
            console.print(f"[dim]prepared model from cache {entry}")
            prepared = prepared_cache.load(model, entry)
        else:
            tick = bars.add(f"prepare {spec.method} {spec.budget.bits}-bit")
            if method.needs_calibration_for(budget):  # the walk ticks once per block
                given = calibration.with_progress(tick)
                prepared = method.prepare(model, budget, given, seed=spec.seed)
            else:
                tick(0, total=len(originals))
                prepared = method.prepare(model, budget, None, seed=spec.seed)
                tick(len(originals))
            if settings.use_cache and prepared_cache.cacheable(prepared):
                prepared_cache.save(prepared, entry)
    metrics, table = init_metrics(prepared, originals, holdout.errors(prepared, originals))
    metrics.update(phase.metrics())
    return prepared, metrics, table


def _tags(spec: RunSpec, context: dict[str, Any], protocol: str) -> dict[str, str]:
    entry = METHODS[spec.method]
    return {
        "method": spec.method,
        "model": spec.model,
        "bits": str(spec.budget.bits),
        "group_size": str(spec.budget.group_size),
        "rank": str(spec.budget.rank),
        "task": spec.task,
        "protocol": protocol,
        "task_version": spec.task_version,
        "data_source": spec.data,
        "profile": context["profile"],
        "storage": "dense" if entry.quantizer == "none" else "packed",
        "device": context["device_name"],
        "qbench_version": context["qbench_version"],
        "git_sha": context["git_sha"],
        "run_key": run_key(spec),
        "seed": str(spec.seed),
        "quantizer": spec.budget.quantizer or entry.quantizer,
    }


def _train_eval_record(
    model, tokenizer, spec, run_id, prepared, prep_metrics, table, tracker, context, bars
) -> None:
    from suite.quant.qlinear import dense_bases
    from suite.train import train
    from tasks.base import parse_source

    device = context["device"]
    task = load_entry(TASKS[spec.task])()
    source = parse_source(spec.data)
    protocol = task.protocol_name(spec.eval)
    tracker.client.set_tag(run_id, "protocol", protocol)
    tracker.client.set_tag(run_id, "storage", prepared.storage)
    tracker.client.set_tag(run_id, "quantizer", prepared.quantizer)
    tracker.client.set_tag(run_id, "data_source", source.tag)
    tracker.metrics(run_id, prep_metrics)
    tracker.json(run_id, table, "init_layers.json")
    tracker.json(
        run_id,
        {**spec.to_dict(), "run_key": run_key(spec), "method_info": prepared.info},
        "spec.json",
    )
    examples = task.train_data(tokenizer, spec.train.seq_len, source, spec.train.max_examples)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with Phase("train", device) as phase:
        result = train(
            model, examples, spec.train, device, spec.seed, pad, bars.add(f"train {run_name(spec)}")
        )
    tracker.series(run_id, "train/loss", result.losses)
    tracker.metrics(
        run_id,
        {
            **phase.metrics(),
            "train/tokens_per_s": result.tokens_per_s,
            "train/steps": result.steps,
            "train/tokens": result.tokens,
        },
    )
    with Phase("eval", device) as phase, dense_bases(model):
        evaluation = task.evaluate(
            model, tokenizer, spec.eval, source, bars.add(f"eval {run_name(spec)}")
        )
    metrics = {f"eval/{spec.task}/{k}": v for k, v in evaluation.metrics.items()}
    metrics["eval/tokens_per_s"] = evaluation.tokens / phase.wall_s if phase.wall_s else 0.0
    tracker.metrics(run_id, {**metrics, **phase.metrics()})
    rows = "\n".join(json.dumps(r, default=str) for r in evaluation.rows)
    tracker.text(run_id, rows + "\n", f"predictions/{spec.task}.jsonl")
    tracker.finish(run_id, "FINISHED")


def _fail(tracker, run_id, spec, err, summary, console) -> None:
    reason = f"{type(err).__name__}: {err}"
    tracker.finish(run_id, "FAILED", reason + "\n" + traceback.format_exc()[-3000:])
    summary.failed.append((run_key(spec), reason))
    console.print(f"[red]FAILED[/] {run_name(spec)}: {reason}")
