"""Render the leaderboard as Markdown, and the cell texts that the HTML page shares.

Per section (model, data source, profile, device) a header, then per (task, protocol, version) a
method x bits table of the task metric ("mean ± std (n=3)", best quantized method per bit width in
bold with a star, Δ to qlora at the same bits) and a detail table of init error, effective bits
against the budget (both under the one accounting of :mod:`suite.budget`; a run above its budget
is marked), prepare time, training peak memory and throughput.

Example::

    from suite.report.markdown import render_markdown
    from suite.report.tables import build_sections
    text = render_markdown(selection, build_sections(selection.records), generated=now)
    Path("results/leaderboard.md").write_text(text)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from suite import contract as C
from suite.report import metrics as M
from suite.report.store import Selection
from suite.report.tables import DETAIL_METRICS, Cell, Section, Stat, TaskTable

DETAIL_HEADERS = {
    C.INIT_CALIB_ERR: "calib err",
    C.INIT_WEIGHT_ERR: "weight err",
    C.EFFECTIVE_BITS: "eff. bits",
    C.BUDGET_BITS: "budget bits",
    C.PREPARE_WALL: "prepare time",
    C.TRAIN_PEAK_MEM: "train peak mem",
    C.TRAIN_TOKENS_PER_S: "train tok/s",
}
BEST_MARK = "★"
OVER_BUDGET = "over budget"
ACCOUNTING_NOTE = (
    "eff. bits and budget bits follow one storage accounting (suite/budget.py): codes, zeros and "
    "double-quantization codes at their packed width, scales in their stored dtype; code books "
    "aside. At --bits b and group size g the budget is a plain INT-b base with one scale in the "
    "run's budget.scale_dtype (float16 by default) and one b-bit zero per group: "
    "b + (16 + b)/g bits per weight."
)


def stat_text(stat: Stat | None, metric: str) -> str:
    """``12.50 ± 0.50 (n=3)`` for several seeds, ``12.50`` for one, a dash for none."""
    if stat is None:
        return "–"
    d = M.decimals_for(stat.mean, metric)
    text = M.fmt_value(stat.mean, metric, d)
    if stat.std is not None:
        text += f" ± {M.fmt_value(stat.std, metric, d)}"
    if stat.n > 1:
        text += f" (n={stat.n})"
    return text


def delta_text(table: TaskTable, row: str, bits: str) -> str:
    """Signed difference to qlora at the same bits (decimals as the metric), or a dash."""
    value = table.delta.get((row, bits))
    cell = table.cells.get((row, bits))
    if value is None or cell is None or cell.metric is None:
        return "–"
    d = M.decimals_for(cell.metric.mean, table.metric or "")
    return f"{value:+.{d}f}"


def is_best(table: TaskTable, row: str, bits: str) -> bool:
    return row in table.best.get(bits, [])


def detail_text(cell: Cell, name: str) -> str:
    stat = cell.details.get(name)
    text = "–" if stat is None else M.fmt_value(stat.mean, name)
    budget = cell.details.get(C.BUDGET_BITS)
    over = stat is not None and budget is not None and stat.mean > budget.mean + 1e-9
    if name == C.EFFECTIVE_BITS and over:
        text += f" ({OVER_BUDGET})"
    return text


def seeds_text(cell: Cell) -> str:
    return ",".join(r.seed for r in cell.runs)


def bits_label(bits: str) -> str:
    return f"{bits}-bit"


def table_caption(table: TaskTable) -> str:
    metric = table.metric or "(no task metric recorded)"
    return (
        f"`{metric}`, {M.direction_words(metric)}. Mean ± sample std over seeds "
        f"(n shown when > 1); {BEST_MARK} bold = best quantized method at that bit width "
        "(the full-precision reference is not ranked); "
        "Δ qlora = difference to qlora at the same bits."
    )


def section_facts(section: Section) -> str:
    versions = ", ".join(section.versions("qbench_version")) or "?"
    shas = ", ".join(s[:10] for s in section.versions("git_sha")) or "?"
    n = len(section.records)
    return f"qbench {versions} · git {shas} · {n} run{'' if n == 1 else 's'}"


def selection_facts(sel: Selection, generated: datetime) -> list[str]:
    ignored = ", ".join(f"{n} {status}" for status, n in sorted(sel.ignored.items())) or "none"
    return [
        f"Experiment `{sel.experiment}` · store `{sel.tracking_uri}` · generated "
        f"{generated.strftime('%Y-%m-%d %H:%M UTC')}",
        f"Runs used: {len(sel.records)} finished (newest per run key) · not finished, ignored: "
        f"{ignored} · superseded by a newer run of the same key: {sel.superseded}",
        f"Filters: {sel.filters.describe()}",
    ]


def _esc(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    align = [":---"] * left + ["---:"] * (len(headers) - left)
    out = ["| " + " | ".join(_esc(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(_esc(c) for c in row) + " |" for row in rows]
    return out


def metric_table_rows(table: TaskTable) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the method x bits table (cells already formatted, best in bold)."""
    headers = ["method"]
    for b in table.bits:
        headers += [bits_label(b), "Δ qlora"]
    rows = []
    for row in table.rows:
        line = [row]
        for b in table.bits:
            cell = table.cells.get((row, b))
            text = stat_text(cell.metric if cell else None, table.metric or "")
            if is_best(table, row, b):
                text = f"**{text}** {BEST_MARK}"
            line += [text, delta_text(table, row, b)]
        rows.append(line)
    return headers, rows


def detail_table_rows(table: TaskTable) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the cost / init-quality table, one row per (method, bits)."""
    headers = ["method", "bits", "seeds"] + [DETAIL_HEADERS[m] for m in DETAIL_METRICS]
    rows = []
    for b in table.bits:
        for row in table.rows:
            cell = table.cells.get((row, b))
            if cell is None:
                continue
            rows.append([row, b, seeds_text(cell)] + [detail_text(cell, m) for m in DETAIL_METRICS])
    return headers, rows


def render_markdown(sel: Selection, sections: Sequence[Section], generated: datetime) -> str:
    """The whole leaderboard as one Markdown document."""
    out = ["# qbench leaderboard", ""]
    for fact in selection_facts(sel, generated):
        out += [fact, ""]
    for section in sections:
        out += [f"## {section.title()}", "", section_facts(section), ""]
        for note in section.notes():
            out += [f"> **Note:** {note}", ""]
        for table in section.tables:
            out += [
                f"### {table.task} · protocol {table.protocol} · task version {table.task_version}",
                "",
                table_caption(table),
                "",
            ]
            out += _md_table(*metric_table_rows(table))
            out += ["", "Cost and initialization quality (means over seeds):", ""]
            out += _md_table(*detail_table_rows(table), left=3)
            out += ["", ACCOUNTING_NOTE]
            out.append("")
    return "\n".join(out).rstrip() + "\n"
