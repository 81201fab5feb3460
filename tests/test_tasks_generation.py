"""The gsm8k and commonsense tasks: training targets, protocols, and what a run records."""

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from suite.runner import Settings, run_sweep
from suite.spec import EvalSpec, SpecError
from suite.sweep import build_sweep
from suite.tracking import Tracker
from tasks.base import parse_source
from tasks.commonsense import SETS, Commonsense, fill, instruction, read_rows, read_train
from tasks.extract import extract_choice
from tasks.gsm8k import GSM8K, answer_done, target

SAMPLE = parse_source("sample")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_gsm8k_loss_is_on_the_answer_only(tiny):
    _, tok = tiny
    example = GSM8K().train_data(tok, 512, SAMPLE, max_examples=3)[0]
    ids, labels = example["input_ids"], example["labels"]
    scored = tok.decode(ids[labels != -100])
    unscored = tok.decode(ids[labels == -100])
    assert unscored.endswith("then answer the final number.\n")
    assert scored.startswith(tok.decode(ids[(labels != -100).nonzero()[0, 0]]))
    assert "The final answer is: " in scored and "####" not in scored
    assert scored.endswith(tok.eos_token)
    long = GSM8K().train_data(tok, 2048, SAMPLE, max_examples=1)[0]
    n_src = int((long["labels"] == -100).sum())
    cut = GSM8K().train_data(tok, n_src + 5, SAMPLE, max_examples=1)[0]
    assert cut["input_ids"].numel() == n_src + 5 and int((cut["labels"] != -100).sum()) == 5
    assert GSM8K().train_data(tok, n_src, SAMPLE, max_examples=1) == []  # no target left


def test_answer_line_rule_stops_after_the_number_line():
    assert answer_done("so 5 + 7 = 12.\n#### 12\nQuestion: next") == len("so 5 + 7 = 12.\n#### 12")
    assert answer_done(target("He has 3.\n#### 3") + "\n") is not None
    assert answer_done("#### 12") is None  # the line may still go on
    assert answer_done("The final answer is:\n") is None


def test_protocol_names_carry_budget_and_caps():
    task = GSM8K()
    assert task.protocol_name(EvalSpec(max_new_tokens=256)) == "greedy-256tok"
    spec = EvalSpec(protocol="sample-t0.1", max_new_tokens=128, max_items=25)
    assert task.protocol_name(spec) == "sample-t0.1-128tok-first25"
    with pytest.raises(SpecError, match="allowed: greedy, sample-t0.1, lm-eval-5shot"):
        task.protocol_name(EvalSpec(protocol="beam"))
    assert Commonsense().protocol_name(EvalSpec(max_new_tokens=32)) == "greedy-32tok"
    assert Commonsense().protocol_name(EvalSpec(protocol="lm-eval-mc")) == "lm-eval-mc"


def test_missing_lm_eval_is_a_one_line_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "lm_eval" else real(name, *a)
    )
    with pytest.raises(SpecError) as err:
        Commonsense().protocol_name(EvalSpec(protocol="lm-eval-mc"))
    assert "pip install 'qbench[eval]'" in str(err.value) and "\n" not in str(err.value)


def test_commonsense_instructions_match_the_training_mixture():
    """Each evaluation item is worded exactly as Commonsense-170K words its set: the training
    instructions, with their content words blanked, have the same shapes."""
    import re

    def shape(text):
        return re.sub(r"[^\n:/]+", "x", text)

    train_shapes = {shape(it["instruction"]) for it in read_train(SAMPLE)}
    for subset in SETS:
        rows = read_rows(SAMPLE, subset)
        assert len(rows) == 24
        for row in rows:
            text, gold = instruction(subset, row)
            assert shape(text) in train_shapes, (subset, text)
            assert extract_choice(f"the correct answer is {gold}", subset) == gold


def test_commonsense_training_items_end_in_their_answer(tiny):
    _, tok = tiny
    items = read_train(SAMPLE, 5)
    examples = Commonsense().train_data(tok, 2048, SAMPLE, 5)
    for item, ex in zip(items, examples, strict=True):
        prompt_ids = tok(fill(item["instruction"])).input_ids
        assert (ex["labels"][: len(prompt_ids)] == -100).all()
        scored = tok.decode(ex["input_ids"][ex["labels"] != -100], skip_special_tokens=True)
        assert scored == item["output"]
    assert fill("Q").endswith("### Instruction:\nQ\n\n### Response:\n")
    # cut to seq_len; an item whose response would be cut away entirely is left out
    cut = Commonsense().train_data(tok, 300, SAMPLE, 5)
    assert all(ex["input_ids"].numel() <= 300 for ex in cut)
    assert all((ex["labels"] != -100).any() for ex in cut) and len(cut) < 5


def test_hub_training_for_commonsense_says_what_to_do(tiny):
    with pytest.raises(FileNotFoundError, match="not a canonical hub dataset"):
        Commonsense().train_data(tiny[1], 256, parse_source("hub"))


def test_a_run_records_metrics_and_per_item_predictions(store, tmp_path):
    sets = [
        "train.steps=2",
        "train.seq_len=1024",
        "train.batch_size=2",
        "eval.max_items=2",
        "eval.max_new_tokens=4",
    ]
    sweep = build_sweep(
        models="synthetic:tiny", methods="qlora", bits="4", ranks="4",
        tasks="gsm8k,commonsense", sets=sets, data="sample",
    )  # fmt: skip
    tracker = Tracker.connect(store, "qbench")
    summary = run_sweep(sweep, tracker, Settings(cache=tmp_path / "cache", progress=False))
    assert len(summary.finished) == 2 and not summary.failed
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("qbench")
    by_task = {r.data.tags["task"]: r for r in client.search_runs([exp.experiment_id])}
    gsm, cs = by_task["gsm8k"], by_task["commonsense"]
    assert gsm.data.tags["protocol"] == "greedy-4tok-first2"
    assert 0 <= gsm.data.metrics["eval/gsm8k/acc"] <= 1
    assert cs.data.tags["protocol"] == "greedy-4tok-first2"
    accs = [cs.data.metrics[f"eval/commonsense/{s}/acc"] for s in SETS]
    assert cs.data.metrics["eval/commonsense/acc_mean"] == pytest.approx(sum(accs) / 8)
    assert gsm.data.metrics["eval/tokens_per_s"] > 0
    for run, n, keys in ((gsm, 2, {"gold"}), (cs, 16, {"set", "gold"})):
        name = f"predictions/{run.data.tags['task']}.jsonl"
        path = client.download_artifacts(run.info.run_id, name, str(tmp_path))
        text = Path(path).read_text(encoding="utf-8")
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert len(rows) == n
        for row in rows:
            assert {"prompt", "output", "extracted", "correct"} | keys <= set(row)
