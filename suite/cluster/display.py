"""The Ray driver's progress: one line per run with its phase, and a summary bar.

A run is ``queued`` until one of its tasks reports, then in the phase its task reports (``load``,
``prepare``, ``claim``, ``train``, ``eval``, with steps done out of the total where known), and
ends ``done``, ``FAILED`` or ``skipped``. The summary counts done / running / failed / skipped /
queued runs under a bar of the runs that have ended. Rich redraws it in place on a terminal
(``Display`` as a context manager); ``--no-progress`` turns the live view off, and the lines that
say a run ended are printed either way.

    >>> console = Console(width=100)
    >>> d = Display(console, [("k1", "qlora-b4"), ("k2", "lora16-b4"), ("k3", "cloq-b2")])
    >>> d.phase("k1", "train", 3, 10)
    >>> d.end("k2", "done")
    >>> d.counts()
    {'done': 1, 'running': 1, 'failed': 0, 'skipped': 0, 'queued': 1}
    >>> with console.capture() as shown:
    ...     console.print(d.render())
    >>> for line in shown.get().splitlines():
    ...     print(" ".join(line.split()).rstrip("━╸╺ "))
    run key phase progress attempt
    qlora-b4 k1 train 3/10
    lora16-b4 k2 done
    cloq-b2 k3 queued
    done 1 running 1 failed 0 skipped 0 queued 1
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

ENDED = ("done", "failed", "skipped")


class Display:
    """Each run's phase, by run key, drawn as a table and a summary bar."""

    def __init__(
        self, console: Console, runs: list[tuple[str, str]], enabled: bool = False
    ) -> None:
        self.console = console
        self.names = dict(runs)  # run key -> run name, in the sweep's order
        self.phases: dict[str, str] = dict.fromkeys(self.names, "queued")
        self.details: dict[str, str] = dict.fromkeys(self.names, "")
        self.attempts: dict[str, int] = dict.fromkeys(self.names, 1)
        self.enabled = enabled
        self._live: Live | None = None

    def __enter__(self) -> Display:
        if self.enabled:
            self._live = Live(
                get_renderable=self.render, console=self.console, refresh_per_second=4
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def phase(self, key: str, phase: str, done: int | None = None, total: int | None = None):
        """A run's task reports ``phase`` (a run that has ended keeps its end)."""
        if self.phases[key] in ENDED:
            return
        self.phases[key] = phase
        self.details[key] = f"{done}/{total}" if done is not None and total else ""

    def retry(self, key: str, attempt: int) -> None:
        self.phases[key], self.details[key], self.attempts[key] = "queued", "", attempt

    def end(self, key: str, how: str, reason: str = "") -> None:
        """``done``, ``failed`` or ``skipped``, with a short reason for the last two."""
        self.phases[key] = how
        self.details[key] = reason[:60]

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "running": 0, "failed": 0, "skipped": 0, "queued": 0}
        for phase in self.phases.values():
            out[phase if phase in out else "running"] += 1
        return out

    def render(self) -> Group:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for column in ("run", "key", "phase", "progress", "attempt"):
            table.add_column(column)
        style = {"done": "green", "failed": "red", "skipped": "dim", "queued": "dim"}
        for key, name in self.names.items():
            phase = self.phases[key]
            attempt = str(self.attempts[key]) if self.attempts[key] > 1 else ""
            shown = "FAILED" if phase == "failed" else phase
            table.add_row(
                name, key, Text(shown, style=style.get(phase, "cyan")), self.details[key], attempt
            )
        counts = self.counts()
        ended = counts["done"] + counts["failed"] + counts["skipped"]
        bar = ProgressBar(total=max(len(self.names), 1), completed=ended, width=20)
        line = Text("  ".join(f"{k} {v}" for k, v in counts.items()))
        summary = Table.grid(padding=(0, 2))
        summary.add_row(line, bar)
        return Group(table, summary)
