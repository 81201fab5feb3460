"""`qbench export` and `qbench compare`: baselines, tolerances, directions, matching, exit codes."""

from __future__ import annotations

import json

import pytest

from suite.report.commands import compare, export
from suite.report.compare import judge, parse_rule, rule_for
from suite.report.export import unflatten
from suite.report.store import ReportError

PPL = "eval/wikitext2/ppl"
ACC = "eval/gsm8k/acc"


@pytest.fixture
def gated(fake_store, cli, tmp_path):
    """A store with three runs and a baseline exported from it; returns (store, baseline path,
    run_key by (method, task))."""
    store = fake_store()
    store.add_run("qlora", 2, 0, metrics={PPL: 30.0})
    store.add_run("cloq", 2, 0, metrics={PPL: 20.0})
    store.add_run("cloq", 2, 0, task="gsm8k", metrics={ACC: 0.40})
    path = tmp_path / "baselines" / "base.json"
    res = cli(export, ["--tracking-uri", store.uri, "--out", path])
    assert res.exit_code == 0, res.output
    keys = {
        (e["tags"]["method"], e["tags"]["task"]): e["run_key"]
        for e in json.loads(path.read_text())["entries"]
    }
    return store, path, keys


def _cmp(cli, store, path, *extra):
    return cli(compare, ["--tracking-uri", store.uri, "--baseline", path, *extra])


def test_export_snapshot(gated):
    _, path, keys = gated
    doc = json.loads(path.read_text())
    assert doc["format"] == "qbench-baseline" and doc["experiment"] == "qbench"
    assert len(doc["entries"]) == 3 and all(keys.values())
    cloq = next(e for e in doc["entries"] if e["run_key"] == keys[("cloq", "wikitext2")])
    assert cloq["spec"]["budget"]["bits"] == 2.0  # from spec.json
    assert cloq["metrics"][PPL] == 20.0
    assert cloq["metrics"]["train/loss"] == 2.1  # the last logged step
    assert cloq["tags"]["device"] == "cpu" and cloq["run_name"] == "cloq-b2-r64-wikitext2-s0"


def test_compare_baseline_against_its_own_runs_passes(gated, cli):
    store, path, _ = gated
    res = _cmp(cli, store, path)
    assert res.exit_code == 0, res.output
    assert "0 regressions, 0 improvements" in res.stdout


def test_planted_regression_beyond_default_tolerance_fails(gated, cli):
    store, path, keys = gated
    store.add_run("cloq", 2, 0, metrics={PPL: 21.0}, tags={"run_key": keys[("cloq", "wikitext2")]})
    res = _cmp(cli, store, path)
    assert res.exit_code == 1
    assert "regression" in res.stdout and PPL in res.stdout and "1 regression," in res.stdout


def test_change_within_default_relative_tolerance_passes(gated, cli):
    store, path, keys = gated
    # 20.0 -> 20.3 is +1.5 %: inside the default 2 % for perplexity
    store.add_run("cloq", 2, 0, metrics={PPL: 20.3}, tags={"run_key": keys[("cloq", "wikitext2")]})
    assert _cmp(cli, store, path).exit_code == 0


@pytest.mark.parametrize(
    ("new_ppl", "rule", "code"),
    [
        (21.0, "eval/wikitext2/ppl:10%", 0),  # +5 % inside 10 %
        (21.0, "ppl:4%", 1),  # bare last segment; +5 % beyond 4 %
        (20.6, "eval/wikitext2/ppl:0.5", 1),  # absolute: +0.6 > 0.5
        (20.4, "eval/wikitext2/ppl:0.5", 0),  # absolute: +0.4 <= 0.5
        (30.0, "eval/*/ppl:off", 0),  # ungated
        (20.2, "eval/*:0.1", 1),  # glob; a later rule would win over this one
    ],
)
def test_rules_relative_absolute_and_off(gated, cli, new_ppl, rule, code):
    store, path, keys = gated
    store.add_run(
        "cloq", 2, 0, metrics={PPL: new_ppl}, tags={"run_key": keys[("cloq", "wikitext2")]}
    )
    res = _cmp(cli, store, path, "--rule", rule)
    assert res.exit_code == code, res.output


def test_later_rule_wins(gated, cli):
    store, path, keys = gated
    store.add_run("cloq", 2, 0, metrics={PPL: 20.2}, tags={"run_key": keys[("cloq", "wikitext2")]})
    assert _cmp(cli, store, path, "--rule", "ppl:0.1", "--rule", "ppl:0.5").exit_code == 0


@pytest.mark.parametrize(
    ("new_acc", "code", "word"),
    [(0.45, 0, "improvement"), (0.35, 1, "regression"), (0.385, 0, "0 regressions")],
)
def test_accuracy_is_higher_better_with_absolute_default(gated, cli, new_acc, code, word):
    store, path, keys = gated
    store.add_run(
        "cloq",
        2,
        0,
        task="gsm8k",
        metrics={ACC: new_acc},
        tags={"run_key": keys[("cloq", "gsm8k")]},
    )
    res = _cmp(cli, store, path)
    assert res.exit_code == code and word in res.stdout


def test_lower_perplexity_is_an_improvement(gated, cli):
    store, path, keys = gated
    store.add_run(
        "qlora", 2, 0, metrics={PPL: 25.0}, tags={"run_key": keys[("qlora", "wikitext2")]}
    )
    res = _cmp(cli, store, path)
    assert res.exit_code == 0 and "improvement" in res.stdout and "1 improvement" in res.stdout


def test_wall_time_gated_only_when_a_rule_names_it(gated, cli):
    store, path, keys = gated
    store.add_run(
        "cloq",
        2,
        0,
        metrics={PPL: 20.0, "train/wall_s": 600.0},
        tags={"run_key": keys[("cloq", "wikitext2")]},
    )
    assert _cmp(cli, store, path).exit_code == 0
    res = _cmp(cli, store, path, "--rule", "wall_s:20%")
    assert res.exit_code == 1 and "train/wall_s" in res.stdout


def test_newer_failed_run_is_not_compared(gated, cli):
    store, path, keys = gated
    store.add_run(
        "cloq",
        2,
        0,
        metrics={PPL: 99.0},
        status="FAILED",
        tags={"run_key": keys[("cloq", "wikitext2")]},
    )
    assert _cmp(cli, store, path).exit_code == 0


def test_missing_metric_is_a_regression(gated, cli):
    store, path, keys = gated
    store.add_run(
        "cloq",
        2,
        0,
        drop_metrics=("init/calib_err",),
        metrics={PPL: 20.0},
        tags={"run_key": keys[("cloq", "wikitext2")]},
    )
    res = _cmp(cli, store, path)
    assert res.exit_code == 1 and "missing" in res.stdout


def _edit(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def test_no_matching_run_exits_2_naming_the_entry(gated, cli):
    store, path, keys = gated

    def orphan(doc):
        entry = next(
            e
            for e in doc["entries"]
            if e["tags"]["method"] == "cloq" and e["tags"]["task"] == "wikitext2"
        )
        entry["run_key"], entry["tags"]["seed"] = "feedbeef", "7"

    _edit(path, orphan)
    res = _cmp(cli, store, path)
    assert res.exit_code == 2
    assert res.stderr == (
        "error: no run matches baseline entry cloq/2/wikitext2/s7 (run_key feedbeef)\n"
    )


def test_changed_run_key_falls_back_to_tags_and_says_so(gated, cli):
    store, path, keys = gated

    def rekey(doc):
        for e in doc["entries"]:
            e["run_key"] = "old-" + e["run_key"]

    _edit(path, rekey)
    res = _cmp(cli, store, path)
    assert res.exit_code == 0, res.output
    assert res.stderr.count("by its tags") == 3 and "old-" in res.stderr


def test_warns_when_device_or_version_differ(gated, cli):
    store, path, keys = gated
    store.add_run(
        "cloq",
        2,
        0,
        metrics={PPL: 20.0},
        tags={
            "run_key": keys[("cloq", "wikitext2")],
            "device": "NVIDIA H100 80GB HBM3",
            "qbench_version": "0.2.0",
        },
    )
    res = _cmp(cli, store, path)
    assert res.exit_code == 0
    assert "warning: device differs from the baseline (cpu -> NVIDIA H100 80GB HBM3)" in res.stderr
    assert "warning: qbench_version differs" in res.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "baseline file not found"),
        ("{not json", "invalid JSON"),
        ('{"format": "other"}', 'expected an object with "format": "qbench-baseline"'),
        ('{"format": "qbench-baseline", "format_version": 1, "entries": []}', "'entries'"),
        (
            '{"format": "qbench-baseline", "format_version": 1, "entries": [{"tags": {}}]}',
            "entry 0 lacks",
        ),
    ],
)
def test_bad_baseline_file_exits_2(cli, tmp_path, fake_store, content, message):
    store = fake_store()
    path = tmp_path / "b.json"
    if content is not None:
        path.write_text(content)
    res = _cmp(cli, store, path)
    assert res.exit_code == 2 and message in res.stderr and res.stderr.count("\n") == 1


@pytest.mark.parametrize("rule", ["ppl", "ppl:abc", ":5%", "ppl:-1", "ppl:5%%", "ppl:nan"])
def test_malformed_rule_exits_2(gated, cli, rule):
    store, path, _ = gated
    res = _cmp(cli, store, path, "--rule", rule)
    assert res.exit_code == 2
    assert res.stderr.startswith(f"error: bad --rule {rule!r}") and res.stderr.count("\n") == 1


def test_export_errors_write_nothing(cli, fake_store, tmp_path):
    store = fake_store()
    store.add_run("cloq", 2, 0)
    out = tmp_path / "x.json"
    res = cli(export, ["--tracking-uri", store.uri, "--out", out, "--model", "gpt2"])
    assert res.exit_code == 2 and "unknown --model 'gpt2'" in res.stderr and not out.exists()
    res = cli(export, ["--tracking-uri", "http://127.0.0.1:9", "--out", out])
    assert res.exit_code == 2 and not out.exists()


def test_parse_rule_and_judge_units():
    assert parse_rule("eval/x/ppl:2%").allowed(50.0) == pytest.approx(1.0)
    assert parse_rule("eval/x/acc:0.02").allowed(50.0) == 0.02
    assert parse_rule("a:1e-3").allowed(5.0) == 0.001
    rule = parse_rule("m:1")
    assert judge("eval/wikitext2/ppl", 10.0, 11.5, rule) == "regression"
    assert judge("eval/wikitext2/ppl", 10.0, 8.5, rule) == "improvement"
    assert judge("eval/gsm8k/acc", 10.0, 8.5, rule) == "regression"
    assert judge("eval/gsm8k/acc", 10.0, 11.0, rule) == "ok"  # exactly at tolerance
    # a task this installation does not know declares no direction: any move is a change
    assert judge("eval/x/acc", 10.0, 8.5, rule) == "changed"
    assert judge("quant/effective_bits", 2.5, 2.75, parse_rule("m:0.01")) == "changed"
    assert judge("eval/wikitext2/ppl", 10.0, None, rule) == "missing"
    assert rule_for("prepare/wall_s", []) is None
    assert rule_for("init/calib_err", []).text() == "init/*err:5%"
    assert rule_for("eval/commonsense/boolq/acc", []).text() == "eval/*acc*:0.02"
    with pytest.raises(ReportError):
        parse_rule("nocolon")


def test_unflatten():
    assert unflatten({"train.lr": "1e-4", "budget.bits": "2", "seed": "0"}) == {
        "train": {"lr": "1e-4"},
        "budget": {"bits": "2"},
        "seed": "0",
    }
