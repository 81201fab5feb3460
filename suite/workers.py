"""``qbench run --workers N``: one sweep shared by N processes on this machine.

A small model leaves a GPU mostly idle (each decode or training step is a few short kernels),
so N processes, each running the same sweep, finish it sooner. They share it through the run-key
claims every sweep already makes (:mod:`suite.claims`), so each key runs once, and split each
prepare group (one method and budget, every task) task by task (:mod:`suite.share`): the worker
that leads a group prepares it into the prepared-model cache, and its other tasks go to whichever
worker is free first. Worker ``i`` starts at the ``i``-th N-th of the groups, and of the models,
so the workers do not all queue on the first group. On a machine with several GPUs, ``--device
auto`` or ``cuda`` puts worker ``i`` on GPU ``i mod count``; the host's cores are split between
the workers (``OMP_NUM_THREADS``, unless it is set).

The coordinator (the ``qbench run`` process itself) checks everything and fetches the models and
the real data once, then starts the workers (``qbench run`` with the same options, ``--worker
I/N`` and no progress bars), shows one progress bar over the runs to make, prints the workers'
``done`` and ``FAILED`` lines and their ``progress`` lines (each long step's at most once a
minute, :class:`suite.progress.LineBars`) prefixed with the worker's number, forwards SIGINT
and SIGTERM (each worker marks its runs FAILED, interrupted) and sums the outcome. Each run
made so carries the tag ``workers=N``: its times and throughput were measured beside other
sweep processes, and the leaderboard says so.

    >>> parse_worker("2/4"), worker_device("auto", 3, gpus=2), worker_device("cpu", 3, gpus=2)
    ((2, 4), 'cuda:1', 'cpu')
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from suite.spec import SpecError, whole_number

MAX_WORKERS = 64
OWN = ("workers", "worker", "device", "no_progress")  # set per worker by run_workers
SUMMARY = re.compile(r"^(\d+) finished, (\d+) skipped, (\d+) failed")
SHOWN = re.compile(r"^(done|FAILED|progress |qbench: |warning|Traceback|\S*Error)")


def parse_workers(value: str | None) -> int:
    """The ``--workers`` count: 1 (this process alone) when not given."""
    return 1 if value is None else whole_number("--workers", value, 1, MAX_WORKERS)


def parse_worker(value: str | None) -> tuple[int, int]:
    """The hidden ``--worker I/N`` a coordinator gives each worker: (index, count)."""
    if value is None:
        return 0, 1
    index, _, count = value.partition("/")
    digits = re.fullmatch(r"[0-9]+", index) and re.fullmatch(r"[0-9]+", count)
    if not (digits and int(index) < int(count) <= MAX_WORKERS):
        raise SpecError(f"--worker '{value}' is not allowed; allowed: I/N with 0 <= I < N")
    return int(index), int(count)


def worker_device(device: str, index: int, gpus: int) -> str:
    """Worker ``index``'s device: a GPU of its own in turn where ``auto``/``cuda`` meets
    several GPUs; else the device as given."""
    if device in ("auto", "cuda") and gpus > 1:
        return f"cuda:{index % gpus}"
    return device


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def worker_args(params: dict[str, Any], options: Sequence[Any]) -> list[str]:
    """``qbench run``'s command line for the values in ``params`` (a click context's), less
    the options each worker gets of its own (:data:`OWN`); ``options`` are the command's."""
    args: list[str] = []
    for option in options:
        value = params.get(option.name)
        if option.name in OWN or value in (None, False, ()):
            continue
        flag = max(option.opts, key=len)
        if option.is_flag:
            args.append(flag)
        elif option.multiple:
            for item in value:
                args += [flag, str(item)]
        else:
            args += [flag, str(value)]
    return args


@dataclass
class Outcome:
    """What the workers said: their summary counts and exit codes."""

    finished: int = 0
    failed: int = 0
    codes: list[int] = field(default_factory=list)


def run_workers(
    base_args: list[str], workers: int, device: str, todo: int, console: Console
) -> tuple[Outcome, int | None]:
    """Start the workers, show their progress, wait for them; (outcome, the signal number that
    stopped the sweep or None)."""
    from suite.progress import Bars

    gpus = gpu_count() if device in ("auto", "cuda") else 0
    env = dict(os.environ)  # the host's cores are split between the workers, unless set
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    procs = []
    for i in range(workers):
        args = [*base_args, "--device", worker_device(device, i, gpus)]
        args += ["--worker", f"{i}/{workers}", "--no-progress"]
        command = [sys.executable, "-c", "from suite.cli import main; main()", "run", *args]
        procs.append(
            subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                env=env,
                start_new_session=True,  # a terminal's Ctrl-C reaches them once, from here
            )
        )
    stopped: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        stopped.append(signum)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    outcome = Outcome()
    lock = threading.Lock()
    try:
        with Bars(console, enabled=True) as bars:
            tick = bars.add(f"runs ({workers} workers)")
            tick(0, total=todo)

            def read(i: int, proc: subprocess.Popen) -> None:
                assert proc.stdout is not None
                for line in proc.stdout:
                    text = line.rstrip()
                    found = SUMMARY.match(text)
                    with lock:
                        if found:
                            outcome.finished += int(found.group(1))
                            outcome.failed += int(found.group(3))
                            continue
                        if text.startswith(("done ", "FAILED ")):
                            tick(1)
                        if SHOWN.match(text):
                            console.print(f"[w{i + 1}] {text}", highlight=False, markup=False)

            readers = [
                threading.Thread(target=read, args=(i, p), daemon=True) for i, p in enumerate(procs)
            ]
            for reader in readers:
                reader.start()
            for proc in procs:
                proc.wait()
            for reader in readers:
                reader.join()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    outcome.codes = [p.returncode for p in procs]
    return outcome, (stopped[0] if stopped else None)


def sweep_in_workers(sweep: Any, tracker: Any, settings: Any, count: int, args: list[str]) -> int:
    """``qbench run --workers N``: check and fetch once here, run the workers, print the
    summary line; the exit code (0, 1 where a run failed or was not made, 2 where a worker
    stopped with an error, 128 + the signal that interrupted the sweep)."""
    from suite.context import RunContext
    from suite.runner import Summary, check_layers, pull_data, to_run

    console = Console(stderr=True)
    check_layers(sweep.specs, settings.cache, console)
    pull_data(sweep.specs, settings, console)
    summary = Summary()
    ctx = RunContext.create(settings, sweep.profile, tracker, console)
    todo = to_run(ctx, sweep.specs, summary)
    outcome, stopped = Outcome(), None
    if todo:
        outcome, stopped = run_workers(args, count, settings.device, len(todo), console)
    if stopped is not None:
        name = signal.Signals(stopped).name
        print(
            f"qbench: interrupted by {name}: the workers marked their runs FAILED "
            "(interrupted); the next qbench run runs them again",
            file=sys.stderr,
        )
        return 128 + stopped
    missing = len(todo) - outcome.finished - outcome.failed
    print(
        f"{outcome.finished} finished, {len(summary.skipped)} skipped, {outcome.failed} failed"
        + (f", {missing} not run" if missing > 0 else "")
        + f"  (store: {tracker.uri}, experiment: {tracker.experiment}, {count} workers)"
    )
    if 2 in outcome.codes:
        bad = ", ".join(str(i + 1) for i, c in enumerate(outcome.codes) if c == 2)
        print(f"qbench: error: worker {bad} stopped with an error (lines above)", file=sys.stderr)
        return 2
    return 1 if outcome.failed or missing > 0 or any(outcome.codes) else 0
