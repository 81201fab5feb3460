"""Leaderboard tables from plain records: aggregation, best marks, Δ vs qlora, sectioning."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import pytest

from suite.report import metrics as M
from suite.report.markdown import (
    MARKDOWN,
    delta_text,
    detail_table_rows,
    render_markdown,
    stat_text,
)
from suite.report.store import Filters, RunRecord, Selection
from suite.report.tables import build_sections, pareto_front

_ids = iter(range(10_000))


def rec(method: str, bits: str, seed: int, metrics: dict[str, float], **tags: str) -> RunRecord:
    task = tags.pop("task", "wikitext2")
    base = {
        "method": method,
        "bits": bits,
        "seed": str(seed),
        "task": task,
        "model": "tiny",
        "data_source": "sample",
        "profile": "quick",
        "device": "cpu",
        "protocol": "p1",
        "task_version": "1",
        "rank": "64",
        "group_size": "64",
        "quantizer": "nf",
        "storage": "dense" if method == "lora16" else "packed",
        "run_key": f"k{next(_ids)}",
    }
    base.update(tags)
    n = next(_ids)
    return RunRecord(f"id{n}", f"run{n}", "FINISHED", n, base, {}, metrics)


def ppl(v: float) -> dict[str, float]:
    return {"eval/wikitext2/ppl": v}


def acc(v: float) -> dict[str, float]:
    return {"eval/gsm8k/acc": v}


def only_table(records):
    sections = build_sections(records)
    assert len(sections) == 1 and len(sections[0].tables) == 1
    return sections[0].tables[0]


def test_mean_std_and_text_match_hand_computation():
    vals = [12.0, 12.5, 13.5]
    t = only_table([rec("cloq", "2", s, ppl(v)) for s, v in enumerate(vals)])
    cell = t.cells[("cloq", "2")]
    assert cell.metric.mean == pytest.approx(statistics.fmean(vals))
    assert cell.metric.std == pytest.approx(statistics.stdev(vals))  # sample std, ddof=1
    assert cell.metric.n == 3
    expected = f"{statistics.fmean(vals):.2f} ± {statistics.stdev(vals):.2f} (n=3)"
    assert stat_text(cell.metric, t.metric) == expected == "12.67 ± 0.76 (n=3)"


def test_single_seed_shows_no_std_or_n():
    t = only_table([rec("cloq", "2", 0, ppl(12.345))])
    assert stat_text(t.cells[("cloq", "2")].metric, t.metric) == "12.35"


def test_best_lower_is_better_per_bits_column_and_reference_not_ranked():
    runs = [
        rec("qlora", "2", 0, ppl(30.0)),
        rec("cloq", "2", 0, ppl(25.0)),
        rec("loftq", "2", 0, ppl(27.0)),
        rec("qlora", "4", 0, ppl(14.0)),
        rec("cloq", "4", 0, ppl(14.5)),
        rec("lora16", "2", 0, ppl(11.0)),  # better than all, but the bf16 reference
    ]
    t = only_table(runs)
    assert t.best == {"2": ["cloq"], "4": ["qlora"]}


def test_best_higher_is_better_for_accuracy():
    runs = [
        rec("qlora", "2", 0, acc(0.30), task="gsm8k"),
        rec("cloq", "2", 0, acc(0.25), task="gsm8k"),
        rec("loftq", "2", 0, acc(0.28), task="gsm8k"),
    ]
    t = only_table(runs)
    assert t.metric == "eval/gsm8k/acc"
    assert t.best == {"2": ["qlora"]}


def test_delta_vs_qlora_at_same_bits():
    runs = [rec("qlora", "2", s, ppl(v)) for s, v in enumerate([30.0, 32.0])]
    runs += [rec("cloq", "2", s, ppl(v)) for s, v in enumerate([25.0, 26.0])]
    runs += [rec("cloq", "4", 0, ppl(14.0))]  # no qlora at 4 bits: no delta
    t = only_table(runs)
    assert t.delta[("cloq", "2")] == pytest.approx(25.5 - 31.0)
    assert ("cloq", "4") not in t.delta
    assert ("qlora", "2") not in t.delta
    assert delta_text(t, "cloq", "2") == "-5.50"
    assert delta_text(t, "cloq", "4") == "–"


def test_different_data_source_model_or_device_never_share_a_section():
    runs = [
        rec("cloq", "2", 0, ppl(20.0)),
        rec("cloq", "2", 1, ppl(22.0), data_source="hub"),
        rec("cloq", "2", 2, ppl(24.0), device="NVIDIA H100 80GB HBM3"),
        rec("cloq", "2", 3, ppl(26.0), profile="paper"),
    ]
    sections = build_sections(runs)
    assert len(sections) == 4
    for s in sections:
        (table,) = s.tables
        assert table.cells[("cloq", "2")].metric.n == 1
    assert {s.context["data_source"] for s in sections} == {"sample", "hub"}


def test_protocol_and_task_version_split_tables_within_a_section():
    runs = [
        rec("cloq", "2", 0, ppl(20.0)),
        rec("cloq", "2", 0, ppl(40.0), protocol="ppl-val-1024"),
        rec("cloq", "2", 0, ppl(60.0), task_version="2"),
    ]
    (section,) = build_sections(runs)
    means = sorted(t.cells[("cloq", "2")].metric.mean for t in section.tables)
    assert means == [20.0, 40.0, 60.0]


def test_rank_variants_become_separate_rows():
    runs = [rec("loftq", "2", 0, ppl(20.0), rank="16"), rec("loftq", "2", 0, ppl(18.0), rank="64")]
    t = only_table(runs)
    assert sorted(t.rows) == ["loftq (r16)", "loftq (r64)"]
    assert t.cells[("loftq (r16)", "2")].metric.mean == 20.0


def test_effective_bits_are_shown_against_the_budget_and_marked_when_over():
    budget = {"quant/budget_bits": 2 + 18 / 64}
    table = only_table(
        [
            rec("qlora", "2", 0, {**ppl(20.0), "quant/effective_bits": 2.127, **budget}),
            rec("lqlora", "2", 0, {**ppl(19.0), "quant/effective_bits": 2.5, **budget}),
        ]
    )
    headers, rows = detail_table_rows(table, MARKDOWN)
    eff, limit = headers.index("eff. bits"), headers.index("budget bits")
    by_method = {r[0]: r for r in rows}
    assert (by_method["qlora"][eff], by_method["qlora"][limit]) == ("2.127", "2.281")
    assert by_method["lqlora"][eff] == "2.500 (over budget)"


def test_markdown_has_header_facts_and_smollm_note():
    runs = [rec("qlora", "2", 0, ppl(30.0), model="smollm2-135m"), rec("cloq", "2", 0, ppl(25.0))]
    sel = Selection(runs, "qbench", "sqlite:///x.db", Filters(), {"FAILED": 2}, 1)
    text = render_markdown(sel, build_sections(runs), datetime(2026, 1, 2, tzinfo=UTC))
    assert "## smollm2-135m · data sample · profile quick · device cpu" in text
    assert "## tiny · data sample" in text
    assert "Q4_1" in text and text.count("Q4_1") == 1  # only the smollm section carries it
    assert "protocol p1 · task version 1" in text
    assert "2 FAILED" in text and "superseded by a newer run of the same key: 1" in text
    assert "| **25.00** ★ |" in text


def test_settings_not_at_the_released_defaults_are_listed_per_method():
    shortened = "method.apiq.epochs=1 (released: 20)"
    runs = [
        rec("apiq", "2", 0, ppl(20.0), changed_settings=shortened),
        rec("apiq", "2", 1, ppl(21.0), changed_settings=shortened),
        rec("qlora", "2", 0, ppl(30.0), changed_settings=""),
    ]
    sel = Selection(runs, "qbench", "sqlite:///x.db", Filters(), {}, 0)
    text = render_markdown(sel, build_sections(runs), datetime(2026, 1, 2, tzinfo=UTC))
    assert text.count(shortened) == 1
    assert (
        f"apiq ran with settings that differ from its released code's defaults: {shortened}" in text
    )
    assert "qlora ran with" not in text


def test_runs_made_beside_other_workers_and_each_builtin_models_note_are_named():
    runs = [
        rec("qlora", "2", 0, ppl(30.0), model="gemma3-270m", workers="4"),
        rec("cloq", "2", 0, ppl(20.0), model="gemma3-270m", workers="4"),
        rec("loftq", "2", 0, ppl(25.0), model="gemma3-270m"),
        rec("loftq", "2", 0, ppl(25.0)),
    ]
    sel = Selection(runs, "qbench", "sqlite:///x.db", Filters(), {}, 0)
    text = render_markdown(sel, build_sections(runs), datetime(2026, 1, 2, tzinfo=UTC))
    gemma, tiny = text.split("## tiny")
    assert "2 of 3 runs were made by qbench run --workers 4 (" in gemma
    assert "Q4_K_M" in gemma and "flatter every method" in gemma
    assert "--workers" not in tiny and "GGUF" not in tiny


@pytest.mark.parametrize(
    ("points", "direction", "front"),
    [
        ([(1, 30.0), (2, 20.0), (3, 25.0), (4, 10.0)], "lower", [0, 1, 3]),
        ([(1, 0.3), (2, 0.2), (3, 0.5), (3, 0.4)], "higher", [0, 2]),
        ([(5, 1.0), (1, 1.0)], "lower", [1]),
    ],
)
def test_pareto_front(points, direction, front):
    assert pareto_front(points, direction) == front


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("eval/wikitext2/ppl", "lower"),
        ("eval/gsm8k/acc", "higher"),
        ("eval/commonsense/acc_mean", "higher"),
        ("eval/commonsense/boolq/acc", "higher"),
        ("train/tokens_per_s", "higher"),
        ("eval/tokens_per_s", "higher"),
        ("eval/squad/f1", None),  # no installed task declares it
        ("eval/gsm8k/em", None),  # gsm8k declares acc, not em
        ("init/weight_err", "lower"),
        ("init/calib_err", "lower"),
        ("train/loss", "lower"),
        ("prepare/wall_s", "lower"),
        ("train/peak_mem_bytes", "lower"),
        ("quant/base_bytes", "lower"),
        ("quant/effective_bits", None),
    ],
)
def test_direction_rule(name, direction):
    assert M.direction(name) == direction


def test_primary_metric_prefers_known_then_ppl_then_acc():
    assert M.primary_metric(
        "commonsense", ["eval/commonsense/boolq/acc", "eval/commonsense/acc_mean"]
    ) == ("eval/commonsense/acc_mean")
    assert M.primary_metric("newtask", ["eval/newtask/n", "eval/newtask/acc"]) == "eval/newtask/acc"
    assert M.primary_metric("x", ["eval/y/ppl"]) is None


def test_section_facts_show_the_dtype_model_files_and_code_versions():
    from suite.report.markdown import MARKDOWN, section_facts

    ident = {"dtype": "float32", "model_fingerprint": "f00d", "qbench_version": "0.1.0"}
    (section,) = build_sections(
        [
            rec("qlora", "4", 0, ppl(12.0), code_version="qlora=1;nf=1;harness=1", **ident),
            rec("lora16", "16", 0, ppl(11.0), code_version="lora16=1;harness=1", **ident),
        ]
    )
    assert section_facts(section, MARKDOWN) == (
        "qbench 0.1.0 · git ? · dtype float32 · model files f00d · "
        "code lora16=1;harness=1, qlora=1;nf=1;harness=1 · 2 runs"
    )
    (old,) = build_sections([rec("qlora", "4", 0, ppl(12.0))])  # runs from before these tags
    assert section_facts(old, MARKDOWN) == "qbench ? · git ? · 1 run"


def test_a_destroyed_models_huge_values_are_shown_in_three_significant_digits():
    runs = [rec("qlora", "2", 0, ppl(239535204.0)), rec("cloq", "2", 0, ppl(113.2))]
    sel = Selection(runs, "qbench", "sqlite:///x.db", Filters(), {}, 0)
    text = render_markdown(sel, build_sections(runs), datetime(2026, 1, 2, tzinfo=UTC))
    assert "| qlora | 2.4e+08 | – |" in text
    assert "| cloq | **113.2** ★ | -2.4e+08 |" in text


def test_time_per_phase_counts_a_shared_prepare_once_and_adds_tasks_up():
    """A prepared model shared by two tasks (one run built it: 120 s; one loaded it and
    recorded a smaller cost) counts 120 s once; training and evaluation add up per task."""
    from suite.report.html import render_html

    def timed(task, prep, train, ev, bits="2", **extra):
        walls = {"prepare/wall_s": prep, "train/wall_s": train, "eval/wall_s": ev}
        return rec("cloq", bits, 0, {**ppl(20.0), **walls}, task=task, **extra)

    runs = [
        timed("wikitext2", 120.0, 300.0, 6.0),
        timed("gsm8k", 2.0, 40.0, 30.0, protocol="p2"),
        timed("wikitext2", 5.0, 60.0, 3.0, bits="4"),
    ]
    sel = Selection(runs, "qbench", "sqlite:///x.db", Filters(), {}, 0)
    sections = build_sections(runs)
    text = render_markdown(sel, sections, datetime(2026, 1, 2, tzinfo=UTC))
    rows = [line for line in text.splitlines() if line.startswith("| cloq | 2 |")]
    # prepare | train wikitext2 | train gsm8k | eval wikitext2 | eval gsm8k | total
    assert rows[-1] == "| cloq | 2 | 2.0 min | 5.0 min | 40 s | 6 s | 30 s | 8.3 min |"
    assert "| all |  | 2.1 min | 6.0 min | 40 s | 9 s | 30 s | 9.4 min |" in text
    page = render_html(sel, sections, datetime(2026, 1, 2, tzinfo=UTC))
    assert '<table class="times">' in page and "<td>8.3 min</td>" in page


def test_each_bit_width_states_the_methods_order_best_first_without_the_reference():
    from suite.report.html import render_html

    runs = [
        rec("qlora", "2", 0, ppl(30.0)),
        rec("cloq", "2", 0, ppl(25.0)),
        rec("loftq", "2", 0, ppl(28.0)),
        rec("lora16", "16", 0, ppl(20.0)),
        rec("qlora", "4", 0, ppl(12.0)),  # one ranked row at 4 bits: no order line
    ]
    sel = Selection(runs, "qbench", "sqlite:///x.db", Filters(), {}, 0)
    sections = build_sections(runs)
    text = render_markdown(sel, sections, datetime(2026, 1, 2, tzinfo=UTC))
    assert "2-bit order (best first): cloq 25.00 \\> loftq 28.00 \\> qlora 30.00" in text
    assert "4-bit order" not in text and "16-bit order" not in text
    page = render_html(sel, sections, datetime(2026, 1, 2, tzinfo=UTC))
    assert "cloq 25.00 &gt; loftq 28.00 &gt; qlora 30.00" in page
    accuracy = [
        rec("qlora", "2", 0, acc(0.30), task="gsm8k"),
        rec("cloq", "2", 0, acc(0.25), task="gsm8k"),
    ]
    sel = Selection(accuracy, "qbench", "sqlite:///x.db", Filters(), {}, 0)
    text = render_markdown(sel, build_sections(accuracy), datetime(2026, 1, 2, tzinfo=UTC))
    assert "2-bit order (best first): qlora 0.300 \\> cloq 0.250" in text
