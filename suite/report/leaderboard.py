"""Build the whole leaderboard (Markdown and HTML texts) from a selection of runs, in memory.

Nothing is written here: ``qbench report`` calls :func:`build_leaderboard` and writes the texts only
once everything has succeeded, so bad input leaves no half-written files.  This module also picks
the run whose per-layer init error is plotted (``--layers-run``, or by default the newest run of
the first method at the lowest bits that has an ``init_layers.json`` artifact).

Example::

    from suite.report.leaderboard import build_leaderboard
    board = build_leaderboard(client, selection, html=True)
    Path("results/leaderboard.md").write_text(board.markdown)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from suite.report.html import render_html
from suite.report.markdown import render_markdown
from suite.report.store import (
    ReportError,
    RunRecord,
    Selection,
    list_artifact_names,
    read_json_artifact,
)
from suite.report.tables import DENSE, bits_sort_key, build_sections, method_rank

LAYERS_ARTIFACT = "init_layers.json"


@dataclass(frozen=True)
class Leaderboard:
    markdown: str
    html: str | None
    layers_run: RunRecord | None


def _valid_layers(rows: Any) -> bool:
    return (
        isinstance(rows, list)
        and bool(rows)
        and all(isinstance(r, Mapping) and "layer" in r for r in rows)
    )


def layers_title(rec: RunRecord) -> str:
    return f"{rec.run_name or rec.run_id} ({rec.label()}, run {rec.run_id[:12]})"


def find_layers_run(
    client: Any, records: Sequence[RunRecord], wanted: str | None
) -> tuple[RunRecord, list[dict]] | None:
    """The run (and its per-layer rows) to plot; ReportError when an explicit choice is unusable."""
    if wanted:
        hits = (
            [r for r in records if r.run_id == wanted]
            or [r for r in records if r.run_key == wanted]
            or [r for r in records if r.run_name == wanted]
        )
        if not hits:
            examples = ", ".join(sorted({r.run_name or r.run_id for r in records})[:3])
            raise ReportError(
                f"unknown --layers-run {wanted!r}: give a run id, run key or run name of a "
                f"selected FINISHED run (e.g. {examples})"
            )
        rec = max(hits, key=lambda r: r.start_time)
        rows = read_json_artifact(client, rec, LAYERS_ARTIFACT)
        if not _valid_layers(rows):
            raise ReportError(
                f"--layers-run {wanted!r}: run {rec.run_name or rec.run_id} has no usable "
                f"{LAYERS_ARTIFACT} artifact"
            )
        return rec, rows
    candidates = sorted(
        (r for r in records if r.tag("storage") != DENSE),
        key=lambda r: (method_rank(r.method), bits_sort_key(r.bits), -r.start_time),
    )
    for rec in candidates:
        if LAYERS_ARTIFACT not in list_artifact_names(client, rec):
            continue
        rows = read_json_artifact(client, rec, LAYERS_ARTIFACT)
        if _valid_layers(rows):
            return rec, rows
    return None


def build_leaderboard(
    client: Any,
    sel: Selection,
    html: bool = True,
    layers_run: str | None = None,
    generated: datetime | None = None,
) -> Leaderboard:
    """Markdown and (optionally) HTML for the selection; raises ReportError on bad input."""
    if not sel.records:
        ignored = ", ".join(f"{n} {s}" for s, n in sorted(sel.ignored.items())) or "none other"
        raise ReportError(
            f"no FINISHED runs in experiment {sel.experiment!r} match the filters "
            f"({sel.filters.describe()}); runs not finished: {ignored}"
        )
    when = generated or datetime.now(UTC)
    sections = build_sections(sel.records)
    layers = find_layers_run(client, sel.records, layers_run) if html or layers_run else None
    page = None
    if html:
        page = render_html(
            sel, sections, when, layers=(layers_title(layers[0]), layers[1]) if layers else None
        )
    return Leaderboard(render_markdown(sel, sections, when), page, layers[0] if layers else None)
