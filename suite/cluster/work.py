"""What a Ray worker runs for ``qbench run --executor ray``: prepare tasks and run tasks.

:func:`prepare_task` prepares one prepare key's model (base model, calibration, the method's
``prepare``, init metrics: :func:`suite.prepare.prepare_model`), which writes it into the cache
folder that every node sees, and returns its metrics; it records nothing. :func:`run_task` is one
run: it claims the run key on the tracking server (:func:`suite.runner.claim_runs`, tagged with
its attempt's id), loads the prepared model from the cache (preparing it itself where the cache
has no usable entry: ``--no-cache``, a model that cannot be cached, a damaged entry), then trains,
evaluates and records exactly as the local executor does
(:func:`suite.runner.train_evaluate_finish`). A prepare step that raised is recorded on each of
its runs as their failure, as the local executor does. A task that is cancelled (Ctrl-C on the
driver) marks its run FAILED on the way out. Both report their phase to the driver's
:class:`Board`. Nothing here imports ray at import time: the driver turns these functions into
tasks (a stopped task imports it only to ask the board why).

    >>> board = Board()
    >>> bars = BoardBars(board, "t1", every_s=0.0)
    >>> tick = bars.add("train qlora-b4-r4-wikitext2-s0")
    >>> tick(0, total=10)
    >>> tick(3)
    >>> board.snapshot()["t1"]
    ('train', 3, 10)
"""

from __future__ import annotations

import copy
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from suite.context import Settings
from suite.contract import Tag
from suite.spec import RunSpec, SpecError

INTERRUPTED = "interrupted: cancelled by the driver"


@dataclass(frozen=True)
class Job:
    """What every task of one sweep shares: the settings (``device`` is the cluster's: cpu or
    cuda), the profile, and the tracking server and experiment to record to."""

    settings: Settings
    profile: str
    uri: str
    experiment: str


@dataclass(frozen=True)
class PrepareOutcome:
    """A prepare task's result: the prepare key, the metrics and per-layer table every run of
    the key records, and whether the cache holds the prepared model; ``reason`` and ``error``
    where the prepare step raised."""

    key: str
    metrics: dict[str, float] = field(default_factory=dict)
    table: list[dict] = field(default_factory=list)
    cached: bool = False
    source: str = "built"  # how the prepare task got it: "built", or "cache"
    device: str = ""  # the device its prepare cost was measured on
    reason: str = ""
    error: str = ""


@dataclass(frozen=True)
class RunOutcome:
    """A run task's result: ``finished``, ``failed`` (recorded FAILED) or ``skipped`` (the key
    was finished or held elsewhere), with a one-line reason for the last two."""

    run_key: str
    status: str
    reason: str = ""


class Board:
    """The driver's view of its tasks: each attempt's phase and progress, by attempt id, and
    why the driver stopped them (run as a Ray actor; a plain object here)."""

    def __init__(self) -> None:
        self.states: dict[str, tuple[str, int | None, int | None]] = {}
        self.stopped = ""

    def report(self, token: str, phase: str, done: int | None, total: int | None) -> None:
        self.states[token] = (phase, done, total)

    def snapshot(self) -> dict[str, tuple[str, int | None, int | None]]:
        return dict(self.states)

    def stop(self, reason: str) -> None:
        self.stopped = reason

    def stop_reason(self) -> str:
        return self.stopped


class BoardBars:
    """One task attempt's progress, sent to the board: it stands in for the context's
    :class:`suite.progress.Bars` (``add(description)`` gives a ``tick``). A phase change is sent
    at once, progress at most every ``every_s`` seconds."""

    def __init__(
        self,
        board: Any,
        token: str,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.board, self.token, self.every_s, self.clock = board, token, every_s, clock
        self._last = float("-inf")

    def say(self, phase: str) -> None:
        self._send(phase, None, None, now=True)

    def add(self, description: str) -> Callable[..., None]:
        phase = description.split()[0]
        state: dict[str, int | None] = {"done": 0, "total": None}
        self.say(phase)

        def tick(advance: int = 1, total: int | None = None, **fields: Any) -> None:
            if total is not None:
                state["total"] = total
            state["done"] = (state["done"] or 0) + advance
            self._send(phase, state["done"], state["total"], now=total is not None)

        return tick

    def _send(self, phase: str, done: int | None, total: int | None, now: bool) -> None:
        t = self.clock()
        if not now and t - self._last < self.every_s:
            return
        self._last = t
        report = self.board.report
        (report.remote if hasattr(report, "remote") else report)(self.token, phase, done, total)


def prepare_task(job: Job, spec: RunSpec, token: str, board: Any) -> PrepareOutcome:
    """Prepare the spec's prepare key into the cache; its metrics, or why it failed."""
    from suite import prepared_cache
    from suite.context import RunContext
    from suite.prepare import load_base, prepare_key, prepare_model
    from suite.runner import failure_text

    bars = BoardBars(board, token)
    bars.say("load")
    ctx = RunContext.create(job.settings, job.profile, None, Console(stderr=True), bars)
    key = prepare_key(ctx, spec)
    try:
        base, tokenizer = load_base(ctx, spec.model)
        result = prepare_model(ctx, base, tokenizer, spec)
    except Exception as err:  # every run of the key records it as its failure
        reason, error = failure_text(err)
        return PrepareOutcome(key, reason=reason, error=error)
    cached = prepared_cache.entry(job.settings.cache, key).is_dir()
    device = ctx.tags[Tag.DEVICE]
    return PrepareOutcome(key, result.metrics, result.table, cached, result.source, device)


def run_task(
    job: Job, spec: RunSpec, prep: PrepareOutcome | None, token: str, board: Any
) -> RunOutcome:
    """Claim the spec's run key, then train, evaluate and record it (see the module docs)."""
    from suite.claims import Claims
    from suite.context import RunContext
    from suite.contract import run_tags
    from suite.prepare import load_base
    from suite.runner import (
        Summary,
        claim_runs,
        failure_text,
        key_of_run,
        record_failure,
        train_evaluate_finish,
    )
    from suite.tracking import Tracker

    bars = BoardBars(board, token)
    bars.say("claim")
    tracker = Tracker(job.uri, job.experiment)  # the driver checked it from every node
    ctx = RunContext.create(job.settings, job.profile, tracker, Console(stderr=True), bars)
    ctx.tags.update(run_tags(attempt=token))
    claims = Claims(tracker, force=job.settings.force)
    summary = Summary()
    key = key_of_run(ctx, spec)
    try:
        run_id = claim_runs(ctx, claims, [spec], summary).get(key)
        if run_id is None:
            bars.say("skipped")
            return RunOutcome(key, "skipped", summary.why_skipped.get(key, ""))
        try:
            if prep is not None and prep.reason:
                record_failure(ctx, claims, run_id, spec, prep.reason, prep.error, summary)
            else:
                bars.say("load")
                base, tokenizer = load_base(ctx, spec.model)
                result = _prepared(ctx, base, tokenizer, spec, prep)
                model = result.prepared.model
                train_evaluate_finish(ctx, claims, run_id, spec, model, tokenizer, result, summary)
        except Exception as err:  # loading failed: the run is FAILED, as any other failure
            record_failure(ctx, claims, run_id, spec, *failure_text(err), summary)
    except Exception as err:  # e.g. the server went away: no run stays RUNNING
        claims.interrupt(f"{type(err).__name__}: {err}")
        raise
    except BaseException:  # cancelled by the driver (KeyboardInterrupt): no run stays RUNNING
        claims.interrupt(_stop_reason(board))
        raise
    finally:
        claims.close()
    if summary.failed:
        bars.say("failed")
        return RunOutcome(key, "failed", summary.failed[0][1])
    bars.say("done")
    return RunOutcome(key, "finished")


def _prepared(ctx: Any, base: Any, tokenizer: Any, spec: RunSpec, prep: PrepareOutcome | None):
    """The prepare task's model from the cache, with its metrics; prepared here where the cache
    has no usable entry."""
    from suite import prepared_cache
    from suite.prepare import PrepareResult, prepare_model

    if prep is not None and prep.cached and ctx.settings.use_cache:
        entry = prepared_cache.entry(ctx.settings.cache, prep.key)
        try:
            prepared = prepared_cache.load(copy.deepcopy(base).to(ctx.device), entry)
            metrics = dict(prep.metrics)
            if prep.device != ctx.tags[Tag.DEVICE]:  # a cost measured on another kind of GPU
                metrics = {k: v for k, v in metrics.items() if not k.startswith("prepare/")}
            return PrepareResult(prepared, metrics, list(prep.table), prep.source)
        except prepared_cache.Damaged as err:
            ctx.console.print(f"[yellow]warning: {err}; preparing it again", highlight=False)
    return prepare_model(ctx, base, tokenizer, spec)


def _stop_reason(board: Any) -> str:
    """Why the driver stopped its tasks (e.g. "interrupted: SIGINT"), as it told the board."""
    try:
        import ray

        return ray.get(board.stop_reason.remote(), timeout=10) or INTERRUPTED
    except Exception:  # the board is gone with its driver
        return INTERRUPTED


def check_node(marker: str, token: str, uri: str) -> tuple[str, str, str]:
    """Run on each node at the start: (host, "cache" | "server" | "", what is wrong). The node
    must read ``marker`` (written by the driver into the cache folder) with ``token`` in it,
    write beside it, and reach the tracking server."""
    from suite.contract import check_uri

    host = socket.gethostname()
    path = Path(marker)
    try:
        seen = path.read_text(encoding="utf-8")
    except OSError as err:
        return host, "cache", f"does not see the file {path} that the driver wrote ({err.strerror})"
    if seen != token:
        return host, "cache", f"sees another file at {path} than the one the driver wrote"
    probe = path.with_name(f"{path.name}.{host}.{os.getpid()}")
    try:
        probe.write_text(token, encoding="utf-8")
        probe.unlink()
    except OSError as err:
        return host, "cache", f"cannot write in {path.parent} ({err.strerror})"
    try:
        check_uri(uri, existing=False)
    except SpecError as err:
        return host, "server", str(err)
    return host, "", ""
