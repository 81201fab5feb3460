"""The Ray executor's driver: run a sweep as prepare and run tasks on a Ray cluster.

:func:`run_sweep_ray` connects (or starts a cluster here), checks that every node sees the cache
folder and reaches the tracking server, checks every budget against its model, pulls the real
data source into the shared cache where a spec reads it, and drops the specs that already have a
fresh FINISHED run (:func:`suite.runner.to_run`, as the local executor). It then submits one
prepare task per prepare key and one run task per spec, each run task taking its prepare task's
ObjectRef as an argument, so Ray starts it once the prepared model is in the cache
(:mod:`suite.cluster.work`). Each task asks for one CPU, and one GPU where the cluster has GPUs;
Ray's own retries are off, the driver resubmits instead:

- a task whose worker died (killed, out of memory, its node lost) is resubmitted up to
  ``--retries`` times; the run its attempt had started is first marked FAILED ("interrupted: its
  worker died"), found by the attempt's id tag. The new attempt claims the key again, so a run
  that the dead attempt had FINISHED is not run twice, and one held elsewhere is skipped;
- a prepare task whose worker died is resubmitted with its run tasks;
- SIGINT or SIGTERM cancels every outstanding task (the running ones mark their run FAILED on
  the way out; after a grace period the rest are killed and the driver marks their runs FAILED),
  and :class:`suite.interrupt.Interrupted` is raised as from the local executor.

Progress: one line per run and a summary bar (:mod:`suite.cluster.display`), fed by the tasks'
reports to a :class:`suite.cluster.work.Board` actor. ``qbench run --executor ray`` calls it as

    summary = run_sweep_ray(sweep, Tracker.connect(uri, "qbench"), settings, RayOptions())
"""

from __future__ import annotations

import contextlib
import signal
import uuid
from dataclasses import dataclass, replace
from typing import Any

from rich.console import Console

from suite.cluster.display import Display
from suite.cluster.nodes import check_nodes, cluster_device, connect, resources
from suite.cluster.options import RayOptions, import_ray
from suite.cluster.work import Board, Job, run_task
from suite.cluster.work import prepare_task as prepare_work
from suite.context import RunContext, Settings
from suite.contract import FAILED, RUNNING, Tag, run_tags
from suite.interrupt import Interrupted, signals_ignored, signals_noted
from suite.progress import Bars
from suite.runner import Summary, check_layers, key_of_run, pull_data, run_name, to_run
from suite.spec import RunSpec
from suite.sweep import Sweep

POLL_S = 0.5
STOP_GRACE_S = 20.0


def run_sweep_ray(
    sweep: Sweep,
    tracker: Any,
    settings: Settings,
    options: RayOptions,
    console: Console | None = None,
) -> Summary:
    """Run every spec of ``sweep`` without a fresh FINISHED run on the Ray cluster (see the
    module docs). Raises Interrupted on SIGINT/SIGTERM after marking its started runs FAILED."""
    console = console or Console(stderr=True)
    ray = import_ray()
    settings = replace(settings, cache=settings.cache.expanduser().absolute())
    connect(ray, options.address)
    try:
        device = cluster_device(ray, settings.device)
        check_nodes(ray, settings.cache, tracker.uri)
        check_layers(sweep.specs, settings.cache, console)
        pull_data(sweep.specs, settings, console)  # into the shared cache, once, by the driver
        settings = replace(settings, device=device)
        ctx = RunContext(
            settings, device, run_tags(profile=sweep.profile), console, Bars(console, False)
        )
        ctx.tracker = tracker
        summary = Summary()
        todo = to_run(ctx, sweep.specs, summary)
        if todo:
            job = Job(settings, sweep.profile, tracker.uri, tracker.experiment)
            Scheduler(ray, job, ctx, options.retries, summary).run(todo)
        return summary
    finally:
        with signals_ignored():
            ray.shutdown()


@dataclass(eq=False)
class Prep:
    """One prepare key's task: its current attempt and how it ended."""

    key: str
    spec: RunSpec
    attempt: int = 0
    token: str = ""
    ref: Any = None
    state: str = "pending"  # pending | done | failed
    reason: str = ""


@dataclass(eq=False)
class Run:
    """One run's task: its current attempt (and that attempt's id, tagged on the run)."""

    spec: RunSpec
    key: str
    name: str
    prep: Prep | None
    attempt: int = 0
    token: str = ""
    ref: Any = None


class Scheduler:
    """Submits, watches, resubmits and, on a signal, cancels one sweep's tasks."""

    def __init__(self, ray: Any, job: Job, ctx: RunContext, retries: int, summary: Summary) -> None:
        self.ray, self.job, self.ctx, self.retries, self.summary = ray, job, ctx, retries, summary
        self.tracker, self.console = ctx.tracker, ctx.console
        self.pending: dict[Any, Prep | Run] = {}  # ObjectRef -> its task
        self.runs: list[Run] = []
        self.reported: dict[str, tuple[str, int | None, int | None]] = {}
        self.display = Display(self.console, [], enabled=False)

    def run(self, specs: list[RunSpec]) -> None:
        from suite.prepare import prepare_key

        ray = self.ray
        task = {"max_retries": 0, **resources(self.job.settings.device)}
        self.prepare_fn = ray.remote(**task)(prepare_work)
        self.run_fn = ray.remote(**task)(run_task)
        self.board = ray.remote(num_cpus=0)(Board).remote()
        preps: dict[str, Prep] = {}
        for spec in specs:
            prep = None
            if self.job.settings.use_cache:  # else each run task prepares its own model
                key = prepare_key(self.ctx, spec)
                prep = preps.setdefault(key, Prep(key, spec))
            self.runs.append(Run(spec, key_of_run(self.ctx, spec), run_name(spec), prep))
        names = [(r.key, r.name) for r in self.runs]
        self.display = Display(self.console, names, enabled=self.job.settings.progress)
        try:
            with signals_noted() as got, self.display:
                for prep in preps.values():
                    self._submit_prep(prep)
                for run in self.runs:
                    self._submit_run(run)
                while self.pending and not got:
                    self._step()
                if got:
                    raise Interrupted(got[0])
        except (Interrupted, KeyboardInterrupt) as err:
            stop = err if isinstance(err, Interrupted) else Interrupted(signal.SIGINT)
            with signals_ignored():
                stop.failed = self._stop(f"interrupted: {stop.name}")
            raise stop from None

    # --- submitting ---------------------------------------------------------------------

    def _submit_prep(self, prep: Prep) -> None:
        prep.attempt, prep.token, prep.state = prep.attempt + 1, _token(), "pending"
        prep.ref = self.prepare_fn.remote(self.job, prep.spec, prep.token, self.board)
        self.pending[prep.ref] = prep

    def _submit_run(self, run: Run) -> None:
        run.attempt, run.token = run.attempt + 1, _token()
        dependency = run.prep.ref if run.prep is not None else None
        run.ref = self.run_fn.remote(self.job, run.spec, dependency, run.token, self.board)
        self.pending[run.ref] = run

    # --- watching -----------------------------------------------------------------------

    def _step(self) -> None:
        refs = list(self.pending)
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=POLL_S)
        self._show()
        for ref in sorted(ready, key=lambda r: isinstance(self.pending.get(r), Run)):
            item = self.pending.pop(ref, None)  # None: dropped when its prepare was resubmitted
            if isinstance(item, Prep):
                self._prep_ended(item, ref)
            elif isinstance(item, Run):
                self._run_ended(item, ref)

    def _show(self) -> None:
        try:
            self.reported = self.ray.get(self.board.snapshot.remote(), timeout=10)
        except Exception:  # a slow board: show the last report
            return
        for run in self.runs:
            if run.token in self.reported:
                self.display.phase(run.key, *self.reported[run.token])
            elif run.prep is not None and run.prep.state == "pending":
                state = self.reported.get(run.prep.token)
                if state is not None:
                    phase, done, total = state
                    shown = "prepare" if phase == "load" else phase
                    self.display.phase(run.key, shown, done, total)

    def _prep_ended(self, prep: Prep, ref: Any) -> None:
        try:
            self.ray.get(ref)
        except Exception as err:
            if worker_died(self.ray, err) and prep.attempt <= self.retries:
                self.console.print(
                    f"[yellow]retry[/] prepare of {run_name(prep.spec)} and its runs: its worker "
                    f"died ({type(err).__name__}); attempt {prep.attempt + 1} of "
                    f"{self.retries + 1}"
                )
                self._submit_prep(prep)
                for run in self.runs:
                    if run.prep is prep and self.pending.pop(run.ref, None) is not None:
                        self.ray.cancel(run.ref)  # it would only fail on the lost result
                        run.attempt -= 1  # not an attempt of the run's own
                        self._submit_run(run)
                return
            prep.state, prep.reason = "failed", _short(err)
            return
        prep.state = "done"
        for run in self.runs:
            if run.prep is prep and run.token not in self.reported:
                self.display.phase(run.key, "queued")

    def _run_ended(self, run: Run, ref: Any) -> None:
        try:
            outcome = self.ray.get(ref)
        except Exception as err:
            self._run_error(run, err)
            return
        self._end(run, outcome.status, outcome.reason)

    def _run_error(self, run: Run, err: Exception) -> None:
        if run.prep is not None and run.prep.state == "failed":  # it never started
            self._end(run, "failed", f"its prepare task failed: {run.prep.reason}")
            return
        if worker_died(self.ray, err):
            why = f"its worker died ({type(err).__name__})"
            self._mark(run, f"interrupted: {why}")
            if run.attempt <= self.retries:
                self.console.print(
                    f"[yellow]retry[/] {run.name}: {why}; attempt {run.attempt + 1} of "
                    f"{self.retries + 1}"
                )
                self.display.retry(run.key, run.attempt + 1)
                self._submit_run(run)
                return
            self._end(run, "failed", f"{why}, on each of {run.attempt} attempt(s)")
            return
        reason = _short(err)  # the task raised outside its own recording
        self._mark(run, reason)
        self._end(run, "failed", reason)

    def _end(self, run: Run, status: str, reason: str = "") -> None:
        if status == "finished":
            self.summary.finished.append(run.key)
            self.display.end(run.key, "done")
            self.console.print(f"[green]done[/] {run.name}")
        elif status == "skipped":
            self.summary.skipped.append(run.key)
            self.summary.why_skipped[run.key] = reason
            self.display.end(run.key, "skipped", reason)
            self.console.print(f"[yellow]skip {run.name} ({run.key}): {reason}")
        else:
            self.summary.failed.append((run.key, reason))
            self.display.end(run.key, "failed", reason)
            self.console.print(f"[red]FAILED[/] {run.name}: {reason}", highlight=False)

    def _mark(self, run: Run, reason: str) -> None:
        """Mark the run of the run's current attempt FAILED where it is still RUNNING."""
        for found in self.tracker.runs(run.key):
            if found.data.tags.get(Tag.ATTEMPT) == run.token and found.info.status == RUNNING:
                self.tracker.fail(found.info.run_id, reason, reason)

    # --- stopping -----------------------------------------------------------------------

    def _stop(self, reason: str) -> int:
        """Cancel every outstanding task; return how many started runs are FAILED for it."""
        ray = self.ray
        live = list(self.pending.items())
        refs = [ref for ref, _ in live]
        with contextlib.suppress(Exception):  # else the tasks say "cancelled by the driver"
            ray.get(self.board.stop.remote(reason), timeout=10)
        for ref in refs:
            ray.cancel(ref)  # a running task gets KeyboardInterrupt and fails its run itself
        left = ray.wait(refs, num_returns=len(refs), timeout=STOP_GRACE_S)[1] if refs else []
        for ref in left:
            ray.cancel(ref, force=True)
        if left:
            ray.wait(left, num_returns=len(left), timeout=STOP_GRACE_S)
        failed = 0
        for _, item in live:
            if isinstance(item, Run):
                self._mark(item, reason)
                failed += sum(
                    1
                    for found in self.tracker.runs(item.key)
                    if found.data.tags.get(Tag.ATTEMPT) == item.token
                    and found.info.status == FAILED
                    and found.data.tags.get(Tag.ERROR, "").startswith("interrupted")
                )
        return failed


def worker_died(ray: Any, err: Exception) -> bool:
    """Whether a task's error says its worker, node or result went away (not that it raised)."""
    rx = ray.exceptions
    if isinstance(err, rx.RayTaskError | rx.TaskCancelledError):
        return False
    lost = (
        rx.WorkerCrashedError,
        rx.NodeDiedError,
        rx.LocalRayletDiedError,
        rx.OutOfMemoryError,
        rx.ObjectLostError,
    )
    return isinstance(err, lost)


def _short(err: Exception) -> str:
    """An error on one line: a task's own exception without Ray's traceback around it."""
    cause = getattr(err, "cause", None)
    shown = cause if isinstance(cause, BaseException) else err
    text = " ".join(str(shown).split())
    return f"{type(shown).__name__}: {text}"[:300]


def _token() -> str:
    return uuid.uuid4().hex[:16]
