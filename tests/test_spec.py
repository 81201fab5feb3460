"""Specs, sweeps and run keys: validation names the bad value; keys are stable and sensitive."""

import dataclasses

import pytest

from suite.spec import Budget, SpecError, run_key
from suite.sweep import build_sweep


def test_run_key_is_stable_and_changes_with_any_field_the_device_type_and_dtype():
    spec = build_sweep(methods="qlora").specs[0]
    again = build_sweep(methods="qlora").specs[0]
    assert run_key(spec, "cpu", "float32") == run_key(again, "cpu", "float32")
    changed = dataclasses.replace(spec, train=dataclasses.replace(spec.train, lr=1e-5))
    assert run_key(changed, "cpu", "float32") != run_key(spec, "cpu", "float32")
    assert run_key(dataclasses.replace(spec, seed=1), "cpu", "float32") != run_key(
        spec, "cpu", "float32"
    )
    assert run_key(spec, "cuda", "bfloat16") != run_key(spec, "cpu", "float32")
    assert run_key(spec, "cpu", "bfloat16") != run_key(spec, "cpu", "float32")


def test_precedence_profile_then_set():
    quick = build_sweep(methods="qlora").specs[0]
    assert quick.train.steps == 24  # from suite/profiles/quick.yaml
    spec = build_sweep(methods="qlora", sets=["train.steps=7", "eval.seq_len=128"]).specs[0]
    assert (spec.train.steps, spec.eval.seq_len) == (7, 128)
    paper = build_sweep(methods="qlora", profile="paper", data="sample").specs[0]
    assert (paper.calib.n_windows, paper.calib.seq_len, paper.train.epochs) == (128, 2048, 3)


def test_lora16_runs_once_at_16_bits_whatever_the_bits():
    specs = build_sweep(methods="qlora,lora16", bits="2,4").specs
    assert sorted((s.method, s.budget.bits) for s in specs) == [
        ("lora16", 16),
        ("qlora", 2),
        ("qlora", 4),
    ]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"methods": "qlorra"}, "unknown method 'qlorra' (did you mean 'qlora'?)"),
        ({"tasks": "wikitext3"}, "unknown task 'wikitext3'"),
        ({"bits": "5"}, "bits 5 is not allowed"),
        ({"methods": "qlora", "bits": "8"}, "bits 8 is not allowed for qlora; allowed: 2, 3, 4"),
        ({"methods": "qlora", "bits": "2.5"}, "bits 2.5 is not allowed for qlora"),
        ({"ranks": "0"}, "rank 0 is not allowed"),
        ({"sets": ["train.lrr=1"]}, "unknown setting 'train.lrr'"),
        ({"sets": ["train.lr=fast"]}, "lr='fast' is not a valid float"),
        ({"profile": "slow"}, "unknown profile 'slow'"),
        ({"data": "/no/such/dir"}, "unknown data source '/no/such/dir'"),
        ({"models": "gpt-foo"}, "unknown model 'gpt-foo'"),
    ],
)
def test_bad_input_names_the_value_and_what_is_allowed(kwargs, fragment):
    with pytest.raises(SpecError) as err:
        build_sweep(**kwargs)
    message = str(err.value)
    assert fragment in message
    assert "allowed" in message or "valid" in message
    assert "\n" not in message


def test_budget_scaling():
    assert Budget(rank=16, lora_alpha=32).scaling == 2.0


def test_a_profile_with_a_base_changes_only_what_it_names():
    """The leaderboard profile is the paper profile but for its speed settings and data."""
    from suite.sweep import load_profile, merge_profiles

    paper, board = load_profile("paper"), load_profile("leaderboard")
    assert board["calib"] == paper["calib"] and board["eval"] == paper["eval"]
    assert board["train"] == {**paper["train"], "micro_logits": 2**30}
    assert board["train_by_task"] == paper["train_by_task"]
    assert not paper.get("method") and board.get("quant") == paper.get("quant")
    assert board["method"] == {"lqlora": {"ilp_iterations": 1}}  # named on each run
    assert board["data"] == "real" != paper["data"]
    for task, settings in paper["eval_by_task"].items():
        changed = {k for k, v in board["eval_by_task"][task].items() if settings.get(k) != v}
        assert changed == {"batch_size"}, task
    merged = merge_profiles(
        {"data": "hub", "train": {"lr": 1.0, "epochs": 3}, "method": {"apiq": {"epochs": 20}}},
        {"train": {"lr": 2.0}, "method": {"apiq": {"batch_size": 2}, "cloq": {"x": 1}}},
    )
    assert merged == {
        "data": "hub",
        "train": {"lr": 2.0, "epochs": 3},
        "method": {"apiq": {"epochs": 20, "batch_size": 2}, "cloq": {"x": 1}},
    }


def test_the_leaderboard_sweep_expands_with_bounded_micro_batches_and_full_evaluation():
    from suite.sweep import build_sweep

    sweep = build_sweep(
        models="smollm2-135m",
        methods="qlora",
        bits="2",
        tasks="wikitext2,gsm8k,commonsense",
        profile="leaderboard",
        data="sample",
    )
    specs = {s.task: s for s in sweep.specs}
    assert all(s.train.micro_logits == 2**30 and s.train.micro_batch == 0 for s in specs.values())
    assert specs["gsm8k"].train.grad_accum == 16 and specs["wikitext2"].eval.batch_size == 4
    assert specs["commonsense"].eval.batch_size == 256 and specs["commonsense"].eval.max_items == 0


def test_a_flag_narrows_the_leaderboard_sweep_without_changing_its_keys():
    """--methods on a sweep file runs that share of it: the same specs, so a pass of its own
    (e.g. the slow prepares in a process of their own) fills the same store's run keys."""
    from pathlib import Path

    from suite.spec import run_key
    from suite.sweep import build_sweep

    config = Path(__file__).resolve().parents[1] / "results" / "leaderboard" / "sweep.yaml"
    full = build_sweep(config=config)
    # a --set that restates a default (ApiQ's 20 epochs) leaves the keys as they are too
    share = build_sweep(config=config, methods="apiq,lqlora", sets=["method.apiq.epochs=20"])
    keys = {run_key(s, "cuda", "bfloat16"): s.method for s in full.specs}
    mine = [run_key(s, "cuda", "bfloat16") for s in share.specs]
    assert len(full.specs) == 78 and len(mine) == 24  # lora16 once per model and task
    assert set(mine) == {k for k, m in keys.items() if m in ("apiq", "lqlora")}


def test_a_profile_base_that_is_unknown_or_leads_back_is_one_line(tmp_path, monkeypatch):
    import pytest

    from suite import sweep
    from suite.spec import SpecError

    monkeypatch.setattr(sweep, "PROFILE_DIR", tmp_path)
    (tmp_path / "a.yaml").write_text("base: b\ntrain: {lr: 1.0}\n")
    (tmp_path / "b.yaml").write_text("base: a\n")
    (tmp_path / "c.yaml").write_text("base: nowhere\n")
    cycle = r"profile b has base 'a', a cycle \(a -> b -> a\); allowed"
    with pytest.raises(SpecError, match=cycle):
        sweep.load_profile("a")
    with pytest.raises(SpecError, match="unknown profile 'nowhere'") as err:
        sweep.load_profile("c")
    assert "\n" not in str(err.value) and "allowed: a, b, c" in str(err.value)
