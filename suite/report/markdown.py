r"""Render the leaderboard as Markdown, and the cell texts that the HTML page shares.

Per section (model, data source, profile, device) a header, then per (task, protocol, version) a
method x bits table of the task metric ("mean ± std (n=3)", best quantized method per bit width in
bold with a star, Δ to qlora at the same bits), the methods' order at each bit width, and a
detail table of init error, effective bits
against the budget (both under the one accounting of :mod:`suite.budget`; a run above its budget
is marked), prepare time, training peak memory and throughput; then the section's time per
phase (:mod:`suite.report.timing`).

Every value that comes from the store (model paths, data sources, experiment names, labels) is
escaped for the output it goes into, through a :class:`Markup`: Markdown here, HTML in
:mod:`suite.report.html`, so a value can neither format nor inject anything.

    >>> md_text("<img src=x> *a*|b")
    '\\<img src=x\\> \\*a\\*\\|b'
    >>> md_code("a`b")
    '``a`b``'

Example::

    from suite.report.markdown import render_markdown
    from suite.report.tables import build_sections
    text = render_markdown(selection, build_sections(selection.records), generated=now)
    Path("results/leaderboard.md").write_text(text)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from suite import contract as C
from suite.report import metrics as M
from suite.report.store import Selection
from suite.report.tables import DETAIL_METRICS, Cell, Section, Stat, TaskTable, ordering
from suite.report.timing import phase_time_rows

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
TIME_HEADING = "Time per phase"
TIME_NOTE = (
    "Wall time per method and bits: prepare once per prepared model (it is shared by the "
    "tasks), training and evaluation per task; the last row adds each column up (process time, "
    "more than the wall time of a sweep whose runs went in parallel)."
)
# characters that can format, link, open HTML or close a table cell; "_" only where it could
# open or close emphasis (not between two letters or digits, as in Q4_1 or weight_err)
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>&|~#!]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def _one_line(text: str) -> str:
    return " ".join(str(text).splitlines()) if text else ""


def md_text(text: str) -> str:
    """A value as literal Markdown text: on one line, every character that could format, link,
    close a table cell or open HTML backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", _one_line(text))


def md_code(text: str) -> str:
    """A value as a Markdown code span, fenced by more backticks than it holds."""
    text = _one_line(text).replace("|", "\\|")
    fence = "`" * (max((len(r) for r in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


@dataclass(frozen=True)
class Markup:
    """How an output format writes a literal value, a code value and strong text."""

    text: Callable[[str], str]
    code: Callable[[str], str]
    strong: Callable[[str], str]


MARKDOWN = Markup(md_text, md_code, lambda s: f"**{s}**")


def stat_text(stat: Stat | None, metric: str) -> str:
    """``12.50 ± 0.50 (n=3)`` for several seeds, ``12.50`` for one, a dash for none, and an
    error for NaN or ±inf (never a number)."""
    if stat is None:
        return "–"
    if not stat.finite:
        return f"error: {stat.nonfinite} of {stat.n} non-finite"
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
    if abs(value) >= M.BIG:
        return f"{value:+.3g}"
    d = M.decimals_for(cell.metric.mean, table.metric or "")
    return f"{value:+.{d}f}"


def is_best(table: TaskTable, row: str, bits: str) -> bool:
    return row in table.best.get(bits, [])


def detail_text(cell: Cell, name: str) -> str:
    stat = cell.details.get(name)
    if stat is not None and not stat.finite:
        return stat_text(stat, name)
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


def order_lines(table: TaskTable, m: Markup) -> list[str]:
    """Per bit width with two or more ranked rows: ``2-bit order (best first): a 1.0 > b 2.0``."""
    lines = []
    for b in table.bits:
        ranked = ordering(table, b)
        if len(ranked) < 2:
            continue
        metric = table.metric or ""
        parts = [
            f"{m.text(row)} {M.fmt_value(v, metric, M.decimals_for(v, metric))}"
            for row, v in ranked
        ]
        lines.append(f"{m.text(bits_label(b))} order (best first): " + m.text(" > ").join(parts))
    return lines


def table_heading(table: TaskTable, m: Markup) -> str:
    return (
        f"{m.text(table.task)} · protocol {m.text(table.protocol)} · task version "
        f"{m.text(table.task_version)}"
    )


def table_caption(table: TaskTable, m: Markup) -> str:
    metric = table.metric or "(no task metric recorded)"
    return (
        f"{m.code(metric)}, {m.text(M.direction_words(metric))}. Mean ± sample std over seeds "
        f"(n shown when > 1); {BEST_MARK} bold = best quantized method at that bit width "
        "(the full-precision reference is not ranked); "
        "Δ qlora = difference to qlora at the same bits; a NaN or infinite value is an error, "
        "never ranked."
    )


def section_facts(section: Section, m: Markup) -> str:
    """qbench and git versions, dtype, model files and code versions, and the run count."""
    versions = ", ".join(section.versions(C.Tag.QBENCH_VERSION)) or "?"
    shas = ", ".join(s[:10] for s in section.versions(C.Tag.GIT_SHA)) or "?"
    facts = [f"qbench {m.text(versions)}", f"git {m.text(shas)}"]
    shown = ((C.Tag.DTYPE, "dtype"), (C.Tag.MODEL_FINGERPRINT, "model files"))
    for tag, label in (*shown, (C.Tag.CODE_VERSION, "code")):
        if section.versions(tag):
            facts.append(f"{label} {m.text(', '.join(section.versions(tag)))}")
    n = len(section.records)
    return " · ".join([*facts, f"{n} run{'' if n == 1 else 's'}"])


def selection_facts(sel: Selection, generated: datetime, m: Markup) -> list[str]:
    ignored = ", ".join(f"{n} {status}" for status, n in sorted(sel.ignored.items())) or "none"
    return [
        f"Experiment {m.code(sel.experiment)} · store {m.code(sel.tracking_uri)} · generated "
        f"{generated.strftime('%Y-%m-%d %H:%M UTC')}",
        f"Runs used: {len(sel.records)} finished (newest per run key) · not finished, ignored: "
        f"{m.text(ignored)} · superseded by a newer run of the same key: {sel.superseded}",
        f"Filters: {m.text(sel.filters.describe())}",
    ]


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """A Markdown table of cells already written in Markdown (values escaped)."""
    align = [":---"] * left + ["---:"] * (len(headers) - left)
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def metric_table_rows(table: TaskTable, m: Markup) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the method x bits table, written in ``m`` (best in strong)."""
    headers = [m.text("method")]
    for b in table.bits:
        headers += [m.text(bits_label(b)), m.text("Δ qlora")]
    rows = []
    for row in table.rows:
        line = [m.text(row)]
        for b in table.bits:
            cell = table.cells.get((row, b))
            text = m.text(stat_text(cell.metric if cell else None, table.metric or ""))
            if is_best(table, row, b):
                text = f"{m.strong(text)} {BEST_MARK}"
            line += [text, m.text(delta_text(table, row, b))]
        rows.append(line)
    return headers, rows


def detail_table_rows(table: TaskTable, m: Markup) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the cost / init-quality table, one row per (method, bits), in ``m``."""
    headers = ["method", "bits", "seeds"] + [DETAIL_HEADERS[k] for k in DETAIL_METRICS]
    rows = []
    for b in table.bits:
        for row in table.rows:
            cell = table.cells.get((row, b))
            if cell is None:
                continue
            texts = [row, b, seeds_text(cell)] + [detail_text(cell, k) for k in DETAIL_METRICS]
            rows.append([m.text(t) for t in texts])
    return [m.text(h) for h in headers], rows


def render_markdown(sel: Selection, sections: Sequence[Section], generated: datetime) -> str:
    """The whole leaderboard as one Markdown document."""
    m = MARKDOWN
    out = ["# qbench leaderboard", ""]
    for fact in selection_facts(sel, generated, m):
        out += [fact, ""]
    for section in sections:
        out += [f"## {m.text(section.title())}", "", section_facts(section, m), ""]
        for note in section.notes():
            out += [f"> **Note:** {m.text(note)}", ""]
        for table in section.tables:
            out += [f"### {table_heading(table, m)}", "", table_caption(table, m), ""]
            out += _md_table(*metric_table_rows(table, m))
            for line in order_lines(table, m):
                out += ["", line]
            out += ["", "Cost and initialization quality (means over seeds):", ""]
            out += _md_table(*detail_table_rows(table, m), left=3)
            out += ["", m.text(ACCOUNTING_NOTE)]
            out.append("")
        out += [f"### {m.text(TIME_HEADING)}", "", m.text(TIME_NOTE), ""]
        headers, rows = phase_time_rows(section.records)
        out += _md_table(headers, [[m.text(c) for c in r] for r in rows], left=2)
        out.append("")
    return "\n".join(out).rstrip() + "\n"
