"""Progress display for long work (rich), passed around as plain callables.

A progress callable takes ``(advance, total=None, **fields)``: ``total`` sets the length,
``advance`` moves it on, and fields such as ``loss`` show beside the bar.

    >>> with Bars(enabled=False) as bars:
    ...     tick = bars.add("train")
    ...     tick(0, total=10)
    ...     tick(1, loss=2.5)
    >>> task = bars.progress.tasks[0]
    >>> task.completed, task.total, task.fields["info"]
    (1, 10, 'loss=2.5')

Without a terminal to draw on (a worker of ``qbench run --workers N``), :class:`LineBars` says
the same in plain lines, at most one per task every ``every_s`` seconds and one when a task
completes, so a long prepare still shows how far it is:

    >>> lines = []
    >>> tick = LineBars(lines.append, every_s=0.0, clock=iter(range(100)).__next__).add("apiq")
    >>> tick(0, total=30)
    >>> tick(12, loss=0.5)
    >>> lines[-1]
    'progress apiq 12/30  loss=0.5  2 s'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class BarSource(Protocol):
    """What a sweep's steps need from a progress display: ``add(description)`` gives a tick
    (:class:`Bars` on a terminal; the Ray executor's tasks report to their driver instead)."""

    def add(self, description: str) -> Callable[..., None]: ...


class Bars:
    """A rich Progress whose tasks are exposed as ``tick(advance, total=None, **fields)``."""

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )

    def __enter__(self) -> Bars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def add(self, description: str) -> Callable[..., None]:
        task = self.progress.add_task(description, total=None, info="")

        def tick(advance: int = 1, total: int | None = None, **fields) -> None:
            info = _info(fields)
            kwargs = {"info": info} if fields else {}
            if total is not None:
                kwargs["total"] = total
            self.progress.update(task, advance=advance, **kwargs)

        return tick


def _info(fields: dict) -> str:
    return "  ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()
    )


class LineBars:
    """Progress as plain lines through ``say``: ``progress <description> <done>/<total>
    <fields> <elapsed>``, at most one per task every ``every_s`` seconds, and one when it
    completes (``clock``: seconds, for the tests)."""

    def __init__(
        self,
        say: Callable[[str], None],
        every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.say, self.every_s, self.clock = say, every_s, clock

    def __enter__(self) -> LineBars:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add(self, description: str) -> Callable[..., None]:
        start = self.clock()
        state = {"done": 0, "total": None, "said": start, "info": ""}

        def tick(advance: int = 1, total: int | None = None, **fields) -> None:
            state["done"] += advance
            if total is not None:
                state["total"] = total
            if fields:
                state["info"] = _info(fields)
            now = self.clock()
            complete = state["total"] is not None and state["done"] >= state["total"] > 0
            if advance and (complete or now - state["said"] >= self.every_s):
                state["said"] = now
                of = f"/{state['total']}" if state["total"] is not None else ""
                info = f"  {state['info']}" if state["info"] else ""
                self.say(f"progress {description} {state['done']}{of}{info}  {now - start:.0f} s")

        return tick
