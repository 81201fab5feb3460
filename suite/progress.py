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
"""

from __future__ import annotations

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
            info = "  ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()
            )
            kwargs = {"info": info} if fields else {}
            if total is not None:
                kwargs["total"] = total
            self.progress.update(task, advance=advance, **kwargs)

        return tick
