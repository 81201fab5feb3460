"""Fault injection on the report side: NaN and ±inf metrics, hostile names, read-only outputs,
unusable baselines. Each is an error (one line, exit 2; or, for compare, a failing gate), never a
number, a best mark or an improvement, and never a half-written file."""

from __future__ import annotations

import html
import math
import re
import stat

import pytest
from markdown_it import MarkdownIt

from suite.report.commands import compare, export, report

PPL = "eval/wikitext2/ppl"


def _inject(store, run_id: str, values: dict[str, float]) -> None:
    """Log values through MLflow, as a run that measured them would (its sqlite store saves ±inf
    as ±1.797e308 and NaN as NaN)."""
    for key, value in values.items():
        store.client.log_metric(run_id, key, value, step=1)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_nonfinite_metric_is_an_error_never_best_nor_an_improvement(
    fake_store, cli, tmp_path, bad
):
    store = fake_store()
    store.add_run("qlora", 2, 0, metrics={PPL: 30.0})
    cloq = store.add_run("cloq", 2, 0, metrics={PPL: 20.0})
    base = tmp_path / "base.json"
    assert cli(export, ["--tracking-uri", store.uri, "--out", base]).exit_code == 0
    _inject(store, cloq, {PPL: bad, "init/weight_err": bad})

    res = cli(report, ["--tracking-uri", store.uri, "--out", tmp_path / "r", "-q"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "r" / "leaderboard.md").read_text()
    rows: dict[str, str] = {}  # the method x bits table's row of each method (the first table)
    for line in md.splitlines():
        if line.startswith("| "):
            rows.setdefault(line.split(" | ")[0].strip("| "), line)
    assert rows["cloq"].split(" | ")[1] == "error: 1 of 1 non-finite"  # not a number
    assert "★" in rows["qlora"] and "★" not in rows["cloq"]  # the finite run is the best
    assert "e+308" not in md and "17976931348623157" not in md and not re.search(r"\binf\b", md)
    html = (tmp_path / "r" / "leaderboard.html").read_text()
    assert "error: 1 of 1 non-finite" in html and "17976931348623157" not in html

    res = cli(compare, ["--tracking-uri", store.uri, "--baseline", base])
    assert res.exit_code == 1  # the gate fails: an error, not an improvement
    line = next(x for x in res.stdout.splitlines() if PPL in x)
    assert "non-finite" in line and "improvement" not in line
    assert "0 improvements" in res.stdout

    out = tmp_path / "again.json"
    res = cli(export, ["--tracking-uri", store.uri, "--out", out])
    assert res.exit_code == 2 and not out.exists()
    assert res.stderr.count("\n") == 1 and "non-finite" in res.stderr and "cloq" in res.stderr


def _baseline(tmp_path, metrics_text: str):
    path = tmp_path / "b.json"
    entry = '{"run_key": "k", "tags": {"method": "qlora"}, "metrics": ' + metrics_text + "}"
    head = '{"format": "qbench-baseline", "format_version": 1, "entries": '
    path.write_text(f"{head}[{entry}]}}")
    return path


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ('{"eval/wikitext2/ppl": NaN}', "it holds NaN, not a finite number"),
        ('{"eval/wikitext2/ppl": Infinity}', "it holds Infinity, not a finite number"),
        ('{"eval/wikitext2/ppl": -Infinity}', "it holds -Infinity, not a finite number"),
        ('{"eval/wikitext2/ppl": null}', "metric 'eval/wikitext2/ppl' is None, not a number"),
        ('{"eval/wikitext2/ppl": 1e999}', "metric 'eval/wikitext2/ppl' is inf, not a finite"),
        ("{}", "entry 0 has no metrics"),
    ],
)
def test_a_baseline_with_nonfinite_or_no_metrics_is_refused(
    fake_store, cli, tmp_path, metrics, message
):
    store = fake_store()
    store.add_run("qlora", 2, 0)
    res = cli(compare, ["--tracking-uri", store.uri, "--baseline", _baseline(tmp_path, metrics)])
    assert res.exit_code == 2 and message in res.stderr and res.stderr.count("\n") == 1
    assert "checked" not in res.stdout


def test_a_comparison_that_gates_no_metric_is_refused(fake_store, cli, tmp_path):
    store = fake_store()
    store.add_run("qlora", 2, 0, metrics={PPL: 30.0})
    base = tmp_path / "base.json"
    assert cli(export, ["--tracking-uri", store.uri, "--out", base]).exit_code == 0
    res = cli(compare, ["--tracking-uri", store.uri, "--baseline", base, "--rule", "*:off"])
    assert res.exit_code == 2 and res.stderr.startswith("error: nothing to check")
    assert "checked 0 metrics" not in res.stdout


HOSTILE_MODEL = "/data/<img src=x onerror=alert(1)>/*m*_`x`|[l](http://e)"
HOSTILE_DATA = "dir:/d/# <script>alert(2)</script> ~~s~~"


def test_markdown_output_escapes_every_value(fake_store, cli, tmp_path):
    store = fake_store()
    tags = {"model": HOSTILE_MODEL, "data_source": HOSTILE_DATA}
    store.add_run("qlora", 2, 0, tags=tags)
    store.add_run("cloq", 2, 0, tags={**tags, "protocol": "p<b>x</b>"})
    out = tmp_path / "r"
    res = cli(report, ["--tracking-uri", store.uri, "--out", out, "-q", "--no-html"])
    assert res.exit_code == 0, res.output
    tokens = MarkdownIt("commonmark").enable("table").parse((out / "leaderboard.md").read_text())
    inline = [c for t in tokens for c in (t.children or [])]
    kinds = {t.type for t in tokens} | {c.type for c in inline}
    assert not kinds & {"html_inline", "html_block", "link_open", "em_open", "code_inline"} - {
        "code_inline"  # the experiment, store and metric are code spans on purpose
    }
    heads = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    shown = [MarkdownIt("commonmark").renderInline(h) for h in heads]
    title = f"{HOSTILE_MODEL} · data {HOSTILE_DATA} · profile quick · device cpu"
    assert html.escape(title) in shown  # the heading shows the value, character for character
    assert html.escape("wikitext2 · protocol p<b>x</b> · task version 1") in shown
    bold = [inline[i + 1].content for i, c in enumerate(inline) if c.type == "strong_open"]
    assert bold and all(b[0].isdigit() for b in bold)  # only best values are bold


def _read_only(path):
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    return path


def test_report_and_export_into_a_read_only_folder_exit_2_and_write_nothing(
    fake_store, cli, tmp_path
):
    store = fake_store()
    store.add_run("qlora", 2, 0)
    locked = _read_only(tmp_path / "locked")
    try:
        for command, out in (
            (report, locked),
            (report, locked / "sub"),
            (export, locked / "b.json"),
            (export, locked / "sub" / "b.json"),
        ):
            res = cli(command, ["--tracking-uri", store.uri, "--out", out])
            assert res.exit_code == 2, res.output
            assert res.stderr.count("\n") == 1 and "read-only" in res.stderr
            assert str(out) in res.stderr and "allowed: a writable" in res.stderr
            assert list(locked.iterdir()) == []
        file_out = tmp_path / "plain"
        file_out.write_text("x")
        res = cli(report, ["--tracking-uri", store.uri, "--out", file_out])
        assert res.exit_code == 2 and "is a file" in res.stderr and file_out.read_text() == "x"
    finally:
        locked.chmod(0o755)
