"""`qbench report` end to end on fake MLflow stores: numbers, marks, sections, errors, HTML."""

from __future__ import annotations

import base64
import re
import struct
import time

import pytest

from suite.report.commands import report


def _table_after(md: str, heading: str) -> list[str]:
    """Lines of the first Markdown table after a heading that starts with ``heading``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[first:end]


def _row(table: list[str], method: str) -> list[str]:
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == method:
            return cells
    raise AssertionError(f"no row {method!r} in {table}")


def test_wikitext2_table_numbers_best_and_delta(standard_report):
    _, md, _ = standard_report
    table = _table_after(md, "### wikitext2")
    assert table[0] == "| method | 2-bit | Δ qlora | 4-bit | Δ qlora |"
    # ppl = base * (1 + 0.3 * (4 - bits)) + 0.25 * seed over seeds 0, 1, 2 (see conftest)
    assert _row(table, "qlora") == ["qlora", "32.25 ± 0.25 (n=3)", "–", "20.25 ± 0.25 (n=3)", "–"]
    # cloq 2-bit: the older duplicate of seed 0's run key (ppl 999) must not count
    assert _row(table, "cloq") == [
        "cloq",
        "**24.25 ± 0.25 (n=3)** ★",
        "-8.00",
        "**15.25 ± 0.25 (n=3)** ★",
        "-5.00",
    ]
    assert _row(table, "loftq")[1:] == [
        "27.45 ± 0.25 (n=3)",
        "-4.80",
        "17.25 ± 0.25 (n=3)",
        "-3.00",
    ]
    ref = _row(table, "lora16 (full-precision base, reference)")
    assert "★" not in "".join(ref)  # better ppl than everyone, but never ranked
    assert [r.split(" |")[0] for r in table[2:]] == [
        "| qlora",
        "| loftq",
        "| cloq",
        "| lora16 (full-precision base, reference)",
    ]


def test_gsm8k_higher_is_better(standard_report):
    _, md, _ = standard_report
    table = _table_after(md, "### gsm8k")
    assert _row(table, "qlora") == ["qlora", "0.140", "–", "0.200", "–"]
    assert _row(table, "cloq") == ["cloq", "**0.210** ★", "+0.070", "**0.270** ★", "+0.070"]


def test_detail_columns(standard_report):
    _, md, _ = standard_report
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("### wikitext2"))
    detail = _table_after("\n".join(lines[start + 5 :]), "Cost and initialization")
    assert detail[0].startswith(
        "| method | bits | seeds | calib err | weight err | eff. bits | budget bits |"
    )
    cloq2 = _row(detail, "cloq")
    # cloq at 2 bits: calib 0.04*3*0.5, weight 0.05*3*0.6, eff. bits 2.25 against the budget
    # 2 + 18/64, prepare 30 s, train peak 2e8 + 8e7 bytes, 900 - 20 tokens/s
    assert cloq2[1:] == [
        "2", "0,1,2", "0.0600", "0.0900", "2.250", "2.281", "30.0 s", "267.0 MiB", "880"
    ]  # fmt: skip
    assert "b + (16 + b)/g bits per weight" in md


def test_header_counts_and_note(standard_report):
    res, md, _ = standard_report
    assert "## smollm2-135m · data sample · profile quick · device cpu" in md
    assert "qbench 0.1.0" in md and "Q4_1" in md
    assert "Runs used: 28 finished" in md  # 24 wikitext2 + 4 gsm8k (duplicate key counted once)
    assert "1 FAILED, 1 RUNNING" in md
    assert "superseded by a newer run of the same key: 1" in md
    assert "protocol ppl-test-2048 · task version 1" in md
    assert md in res.stdout


def test_html_tables_and_embedded_pngs(standard_report):
    _, _, page = standard_report
    assert "http://" not in page and "https://" not in page  # self-contained
    assert page.count('<table class="leaderboard"') == 2
    assert page.count('<tr data-method="cloq">') == 2 + 0  # one per leaderboard table
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    # per task table: metric vs bits + vs memory; per section: prepare time; plus layers
    assert len(imgs) == 2 * 2 + 1 + 1
    for data in imgs:
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert width > 200 and height > 200
    # default layers run: first method (qlora) at the lowest bits, newest -> the gsm8k run
    assert "qlora/2/gsm8k/s0" in page.split('id="layers"')[1]


def test_layers_run_by_key_and_unknown(cli, standard_store, tmp_path):
    key = next(
        r.data.tags["run_key"]
        for r in standard_store.client.search_runs(
            [standard_store.experiment_id()],
            "tags.method = 'cloq' and tags.bits = '4' and tags.task = 'wikitext2' "
            "and tags.seed = '1'",
        )
    )
    res = cli(
        report, ["--tracking-uri", standard_store.uri, "--out", tmp_path, "--layers-run", key, "-q"]
    )
    assert res.exit_code == 0
    assert (
        "cloq/4/wikitext2/s1" in (tmp_path / "leaderboard.html").read_text().split('id="layers"')[1]
    )
    res = cli(
        report,
        ["--tracking-uri", standard_store.uri, "--out", tmp_path / "x", "--layers-run", "nope"],
    )
    assert res.exit_code == 2
    assert "unknown --layers-run 'nope'" in res.stderr
    assert not (tmp_path / "x").exists()


def test_filters_task_and_since(cli, standard_store, tmp_path):
    res = cli(
        report,
        [
            "--tracking-uri",
            standard_store.uri,
            "--out",
            tmp_path,
            "--no-html",
            "--task",
            "gsm8k",
            "--since",
            "1d",
        ],
    )
    assert res.exit_code == 0, res.output
    md = (tmp_path / "leaderboard.md").read_text()
    assert "### gsm8k" in md and "### wikitext2" not in md
    assert not (tmp_path / "leaderboard.html").exists()
    res = cli(
        report,
        ["--tracking-uri", standard_store.uri, "--out", tmp_path / "f", "--since", "2999-01-01"],
    )
    assert res.exit_code == 2 and "no FINISHED runs" in res.stderr
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "llama-7b"], "unknown --model 'llama-7b': the store has smollm2-135m"),
        (["--task", "mmlu"], "unknown --task 'mmlu': the store has gsm8k, wikitext2"),
        (["--experiment", "nope"], "unknown --experiment 'nope': the store has"),
        (["--since", "yesterday"], "bad --since 'yesterday': expected a date"),
    ],
)
def test_bad_filter_values_one_line_exit_2(cli, standard_store, tmp_path, args, message):
    out = tmp_path / "out"
    res = cli(report, ["--tracking-uri", standard_store.uri, "--out", out, *args])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and message in res.stderr
    assert not out.exists()


def test_unreachable_and_missing_stores(cli, tmp_path):
    out = tmp_path / "out"
    t0 = time.monotonic()
    res = cli(report, ["--tracking-uri", "http://127.0.0.1:9", "--out", out])
    assert res.exit_code == 2 and time.monotonic() - t0 < 10
    assert res.stderr.count("\n") == 1 and "http://127.0.0.1:9" in res.stderr
    db = tmp_path / "none.db"
    res = cli(report, ["--tracking-uri", f"sqlite:///{db}", "--out", out])
    assert res.exit_code == 2 and "tracking store not found" in res.stderr
    assert not db.exists() and not out.exists()


def test_data_sources_never_share_a_section(cli, fake_store, tmp_path):
    store = fake_store()
    store.add_run("cloq", 2, 0, metrics={"eval/wikitext2/ppl": 20.0})
    store.add_run("cloq", 2, 1, metrics={"eval/wikitext2/ppl": 22.0})
    store.add_run("cloq", 2, 0, metrics={"eval/wikitext2/ppl": 40.0}, tags={"data_source": "hub"})
    res = cli(report, ["--tracking-uri", store.uri, "--out", tmp_path, "--no-html"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "leaderboard.md").read_text()
    sections = {s.split("\n", 1)[0]: s for s in md.split("\n## ")[1:]}
    assert sorted(sections) == [
        "smollm2-135m · data hub · profile quick · device cpu",
        "smollm2-135m · data sample · profile quick · device cpu",
    ]
    sample = sections["smollm2-135m · data sample · profile quick · device cpu"]
    hub = sections["smollm2-135m · data hub · profile quick · device cpu"]
    assert "| cloq | **21.00 ± 1.41 (n=2)** ★ | – |" in sample  # stdev(20, 22) = 1.414
    assert "| cloq | **40.00** ★ | – |" in hub


def test_sqlite_file_that_is_not_a_store_is_left_alone(cli, tmp_path):
    import sqlite3

    db = tmp_path / "other.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE notes (x TEXT)")
    con.close()
    before = db.read_bytes()
    res = cli(report, ["--tracking-uri", f"sqlite:///{db}", "--out", tmp_path / "out"])
    assert res.exit_code == 2 and "not an MLflow store" in res.stderr
    assert db.read_bytes() == before and not (tmp_path / "out").exists()


def test_tracking_uri_from_environment(cli, standard_store, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", standard_store.uri)
    res = cli(report, ["--out", tmp_path, "--no-html", "-q", "--task", "gsm8k"])
    assert res.exit_code == 0, res.output
    assert "### gsm8k" in (tmp_path / "leaderboard.md").read_text()
