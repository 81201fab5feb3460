"""Render the leaderboard as ONE self-contained HTML page (inline CSS, plots as base64 PNG).

The page holds the same tables as the Markdown report (cell texts come from
:mod:`suite.report.markdown`) plus, per task table, the metric-vs-bits and metric-vs-memory plots,
per section the prepare-time plot, and at the end the per-layer init error of one chosen run.  It
loads nothing from the network.

Example::

    from suite.report.html import render_html
    page = render_html(selection, sections, generated=now, layers=("cloq/2/wikitext2/s0", rows))
    Path("results/leaderboard.html").write_text(page, encoding="utf-8")
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from suite.report import plots
from suite.report.markdown import (
    ACCOUNTING_NOTE,
    TIME_HEADING,
    TIME_NOTE,
    Markup,
    detail_table_rows,
    is_best,
    metric_table_rows,
    order_lines,
    section_facts,
    selection_facts,
    table_caption,
    table_heading,
)
from suite.report.store import Selection
from suite.report.tables import Section, TaskTable
from suite.report.timing import phase_time_rows

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d2430; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { margin: 0 0 8px; font-size: 28px; }
h2 { margin-top: 36px; padding-top: 12px; border-top: 3px solid #2b6cb0; font-size: 21px; }
h3 { margin-top: 26px; font-size: 17px; color: #2a3a50; }
p.facts, p.caption { color: #4a5568; font-size: 14px; margin: 4px 0; }
code { background: #eef1f5; padding: 1px 4px; border-radius: 3px; font-size: 13px; }
div.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 8px 12px;
           margin: 10px 0; font-size: 14px; }
table { border-collapse: collapse; margin: 10px 0 6px; font-size: 13.5px;
        font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d9dee5; padding: 5px 9px; white-space: nowrap; }
thead th { background: #edf2f7; text-align: center; }
tbody th { text-align: left; font-weight: 600; background: #fafbfc; }
td { text-align: right; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.best { background: #e6f4ea !important; font-weight: 700; }
td.delta { color: #5a6474; font-size: 12.5px; }
tr.reference th, tr.reference td { color: #6b7280; font-style: italic; }
div.plots { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 10px; }
figure { margin: 0; border: 1px solid #e2e8f0; border-radius: 6px; padding: 6px; background: #fff;
         box-sizing: border-box; flex: 0 1 calc(50% - 6px); }
figure.wide { flex-basis: 100%; }
figure img { display: block; width: 100%; height: auto; }
figcaption { font-size: 12.5px; color: #4a5568; margin-top: 4px; }
"""


def _img(png: bytes | None, alt: str, caption: str, wide: bool = False) -> str:
    if not png:
        return ""
    data = base64.b64encode(png).decode("ascii")
    cls = ' class="wide"' if wide else ""
    return (
        f'<figure{cls}><img class="plot" alt="{escape(alt)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


HTML = Markup(escape, lambda s: f"<code>{escape(s)}</code>", lambda s: f"<strong>{s}</strong>")


def _metric_table(table: TaskTable) -> str:
    headers, rows = metric_table_rows(table, HTML)
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for label, line in zip(table.rows, rows, strict=True):
        cls = ' class="reference"' if label in table.reference_rows else ""
        tds = []
        for j, b in enumerate(table.bits):
            value, delta = line[1 + 2 * j], line[2 + 2 * j]
            best = is_best(table, label, b)
            tds.append(f'<td class="{"value best" if best else "value"}">{value}</td>')
            tds.append(f'<td class="delta">{delta}</td>')
        body.append(
            f'<tr{cls} data-method="{escape(table.row_methods[label])}">'
            f"<th>{line[0]}</th>{''.join(tds)}</tr>"
        )
    return (
        f'<table class="leaderboard" data-task="{escape(table.task)}" '
        f'data-protocol="{escape(table.protocol)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _detail_table(table: TaskTable) -> str:
    headers, rows = detail_table_rows(table, HTML)
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        "<tr>" + f"<th>{r[0]}</th>" + "".join(f"<td>{c}</td>" for c in r[1:]) + "</tr>"
        for r in rows
    )
    return (
        f'<table class="details" data-task="{escape(table.task)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _task_block(table: TaskTable) -> str:
    metric = table.metric or "task metric"
    figs = _img(
        plots.metric_vs_bits(table),
        f"{metric} vs bits",
        f"{metric} against the bit budget, mean over seeds with ± std error bars; dashed line: "
        "the full-precision reference.",
    ) + _img(
        plots.metric_vs_memory(table),
        f"{metric} vs train peak memory",
        f"{metric} against training peak memory per method and bits; circled points joined by "
        "the dashed red line form the Pareto front (nothing else is both smaller and better).",
    )
    orders = "".join(f'<p class="order">{line}</p>' for line in order_lines(table, HTML))
    return (
        f'<article class="task" data-task="{escape(table.task)}">'
        f"<h3>{table_heading(table, HTML)}</h3>"
        f'<p class="caption">{table_caption(table, HTML)}</p>'
        f"{_metric_table(table)}{orders}"
        '<p class="caption">Cost and initialization quality (means over seeds):</p>'
        f"{_detail_table(table)}"
        f'<p class="caption">{escape(ACCOUNTING_NOTE)}</p>'
        f'<div class="plots">{figs}</div></article>'
    )


def _section_block(section: Section) -> str:
    notes = "".join(
        f'<div class="note"><strong>Note:</strong> {escape(n)}</div>' for n in section.notes()
    )
    attrs = " ".join(
        f'data-{k.replace("_", "-")}="{escape(v)}"' for k, v in section.context.items()
    )
    prep = _img(
        plots.prepare_time(section),
        "prepare wall time by method",
        "Prepare wall time (quantization and adapter initialization) per method and bits: the "
        "slowest run of each, since a run that reused a cached prepared model records less.",
    )
    tasks = "".join(_task_block(t) for t in section.tables)
    return (
        f'<section class="context" {attrs}><h2>{escape(section.title())}</h2>'
        f'<p class="facts">{section_facts(section, HTML)}</p>{notes}{tasks}'
        f"{_time_block(section)}"
        f'<div class="plots">{prep}</div></section>'
    )


def _time_block(section: Section) -> str:
    headers, rows = phase_time_rows(section.records)
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    cell = ("<th>{}</th>", "<th>{}</th>") + ("<td>{}</td>",) * (len(headers) - 2)
    body = "".join(
        "<tr>" + "".join(c.format(escape(v)) for c, v in zip(cell, r, strict=True)) + "</tr>"
        for r in rows
    )
    return (
        f'<h3>{escape(TIME_HEADING)}</h3><p class="caption">{escape(TIME_NOTE)}</p>'
        f'<table class="times"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def render_html(
    sel: Selection,
    sections: Sequence[Section],
    generated: datetime,
    layers: tuple[str, Sequence[Mapping[str, Any]]] | None = None,
) -> str:
    """The whole leaderboard page; ``layers`` is (run description, init_layers.json rows)."""
    facts = "".join(f'<p class="facts">{f}</p>' for f in selection_facts(sel, generated, HTML))
    body = "".join(_section_block(s) for s in sections)
    if layers is not None:
        title, rows = layers
        fig = _img(
            plots.layer_errors(rows, f"Per-layer init error: {title}"),
            f"per-layer init error of {title}",
            "Relative weight error ‖W − (Q + sBA)‖/‖W‖ and calibrated output error per target "
            f"layer at initialization, from init_layers.json of {title}.",
            wide=True,
        )
        body += (
            f'<section id="layers"><h2>Per-layer initialization error</h2>'
            f'<p class="facts">{escape(title)}</p><div class="plots">{fig}</div></section>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>qbench leaderboard</title><style>{CSS}</style></head>"
        f"<body><main><h1>qbench leaderboard</h1>{facts}{body}</main></body></html>\n"
    )
