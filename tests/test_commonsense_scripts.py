"""Protocols llm-adapters and apiq are LLM-Adapters' and ApiQ's commonsense scripts: templates,
which tokens carry loss, decoding and answer extraction for each of the eight sets, against plain
rewrites of their code written here and transformers' generate."""

import re

import pytest
from transformers import GenerationConfig

from suite.spec import EvalSpec
from tasks.base import parse_source
from tasks.commonsense import SETS, Commonsense, instruction, read_rows, read_train
from tasks.commonsense_scripts import (
    apiq_output,
    apiq_prompt,
    eval_prompt,
    llma_extract,
    llma_output,
    train_text,
)
from tasks.generation import eos_ids

SAMPLE = parse_source("sample")
INDENT = " " * 16
# LLM-Adapters' --dataset names of the eight sets
THEIR_NAME = {
    "boolq": "boolq",
    "piqa": "piqa",
    "siqa": "social_i_qa",
    "hellaswag": "hellaswag",
    "winogrande": "winogrande",
    "arc_easy": "ARC-Easy",
    "arc_challenge": "ARC-Challenge",
    "openbookqa": "openbookqa",
}

pytestmark = pytest.mark.usefixtures("one_thread")


def their_train_prompt(instruction_text: str, input_text: str, output: str) -> str:
    """finetune.py's generate_prompt, line by line (its literal keeps the source indentation)."""
    if input_text:
        lines = [
            "Below is an instruction that describes a task, paired with an input that provides "
            "further context. Write a response that appropriately completes the request. ",
            "",
            INDENT + "### Instruction:",
            INDENT + instruction_text,
            INDENT,
            INDENT + "### Input:",
            INDENT + input_text,
            INDENT,
            INDENT + "### Response:",
            INDENT + output,
        ]
    else:
        lines = [
            "Below is an instruction that describes a task. Write a response that appropriately "
            "completes the request.  ",
            "",
            INDENT + "### Instruction:",
            INDENT + instruction_text,
            INDENT,
            INDENT + "### Response:",
            INDENT + output,
        ]
    return "\n".join(lines)


def their_eval_prompt(instruction_text: str) -> str:
    """commonsense_evaluate.py's generate_prompt without an input."""
    lines = [
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request. ",
        "",
        INDENT + "### Instruction:",
        INDENT + instruction_text,
        "",
        INDENT + "### Response:",
        INDENT,
    ]
    return "\n".join(lines)


def their_extract_answer(dataset: str, sentence: str) -> str:
    """commonsense_evaluate.py's extract_answer."""
    words = {
        "boolq": ["true", "false"],
        "piqa": ["solution1", "solution2"],
        "hellaswag": ["ending1", "ending2", "ending3", "ending4"],
        "winogrande": ["option1", "option2"],
    }
    for name in ("social_i_qa", "ARC-Challenge", "ARC-Easy", "openbookqa"):
        words[name] = ["answer1", "answer2", "answer3", "answer4", "answer5"]
    found = re.findall("|".join(words[dataset]), sentence.strip())
    return found[0] if found else ""


def their_extract_output(pred: str, trigger: str = "the correct answer is ") -> str:
    """ApiQ's compute_metrics.extract_output."""
    start = pred.find(trigger)
    if start < 0:
        return ""
    return pred[start + len(trigger) :].lstrip()


def outputs_for(subset: str, gold: str) -> list[str]:
    other = {"true": "false", "false": "true"}.get(
        gold, gold[:-1] + ("2" if gold[-1] == "1" else "1")
    )
    return [
        f"the correct answer is {gold}",
        f"the correct answer is {gold}.",
        f"The correct answer is {gold.upper()}",
        f"the correct answer is {other} or {gold}",
        f"{other}? no: the correct answer is {gold}",
        f"the correct answer is  {gold} ",
        f"the correct answer is {gold}10",
        f"untrue {gold}",
        "the correct answer is",
        "",
    ]


def test_prompts_are_theirs_for_every_set():
    for item in read_train(SAMPLE, 40):
        assert train_text(item) == their_train_prompt(item["instruction"], "", item["output"])
        with_input = {**item, "input": "some context"}
        expected = their_train_prompt(item["instruction"], "some context", item["output"])
        assert train_text(with_input) == expected
    for subset in SETS:
        for row in read_rows(SAMPLE, subset, 3):
            text, _ = instruction(subset, row)
            assert eval_prompt(text) == their_eval_prompt(text)
            assert apiq_prompt(text) == text + "\n"  # task_config's "%s\n"


def test_extraction_is_theirs_for_every_set():
    for subset in SETS:
        for row in read_rows(SAMPLE, subset, 2):
            text, gold = instruction(subset, row)
            for output in outputs_for(subset, gold):
                assert llma_extract(output, subset) == their_extract_answer(
                    THEIR_NAME[subset], output
                )
                full = their_eval_prompt(text) + output
                assert llma_output(full) == full.split("### Response:")[1].strip()
                full = apiq_prompt(text) + output
                assert apiq_output(full) == their_extract_output(full)


def test_llm_adapters_puts_loss_on_every_token(tiny):
    _, tok = tiny
    task = Commonsense()
    item = read_train(SAMPLE, 1)[0]
    (ex,) = task.train_data(tok, 2048, SAMPLE, 1, protocol="llm-adapters")
    ids = tok(their_train_prompt(item["instruction"], "", item["output"])).input_ids
    assert ex["input_ids"].tolist() == [*ids, tok.eos_token_id]
    assert ex["labels"].tolist() == ex["input_ids"].tolist()  # train_on_inputs=True
    assert "attention_mask" not in ex
    (cut,) = task.train_data(tok, 100, SAMPLE, 1, protocol="llm-adapters")
    assert cut["input_ids"].tolist() == ids[:100]  # cut at cutoff_len: no EOS added


def test_apiq_puts_loss_after_the_prompt_behind_one_pad(tiny):
    _, tok = tiny
    item = read_train(SAMPLE, 1)[0]
    (ex,) = Commonsense().train_data(tok, 512, SAMPLE, 1, protocol="apiq")
    prompt_ids = tok(item["instruction"] + "\n").input_ids
    full = tok(f"{item['instruction']}\nthe correct answer is {item['answer']}{tok.eos_token}")
    ids, labels, mask = (ex[k].tolist() for k in ("input_ids", "labels", "attention_mask"))
    assert ids[1:] == full.input_ids and ids[0] != tok.eos_token_id
    assert labels == [-100] * (1 + len(prompt_ids)) + full.input_ids[len(prompt_ids) :]
    assert mask == [0] + [1] * len(full.input_ids)
    scored = tok.decode([t for t, label in zip(ids, labels, strict=True) if label != -100])
    assert scored == f"the correct answer is {item['answer']}{tok.eos_token}"


@pytest.mark.parametrize("protocol", ["llm-adapters", "apiq"])
def test_decoding_is_transformers_generate_with_their_settings(tiny, protocol):
    model, tok = tiny
    spec = EvalSpec(protocol=protocol, max_items=1, max_new_tokens=6, batch_size=8)
    result = Commonsense().evaluate(model, tok, spec, SAMPLE)
    assert result.protocol == f"{protocol}-6tok-first1"
    assert [r["set"] for r in result.rows] == list(SETS)
    for row in result.rows:
        if protocol == "llm-adapters":
            config = GenerationConfig(
                temperature=0.1,
                top_p=0.75,
                top_k=40,
                num_beams=4,
                max_new_tokens=6,
                eos_token_id=sorted(eos_ids(model, tok)),
                pad_token_id=tok.pad_token_id,
            )
        else:
            config = GenerationConfig(
                max_new_tokens=6,
                do_sample=False,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )
        enc = tok(row["prompt"], return_tensors="pt")
        full = tok.decode(
            model.generate(**enc, generation_config=config)[0], skip_special_tokens=True
        )
        if protocol == "llm-adapters":
            output = full.split("### Response:")[1].strip()
            extracted = their_extract_answer(THEIR_NAME[row["set"]], output)
            correct = extracted == row["gold"]
        else:
            output = extracted = their_extract_output(full)
            correct = extracted.strip() == row["gold"].strip()
        assert (row["output"], row["extracted"], row["correct"]) == (output, extracted, correct)
    per_set = [result.metrics[f"{s}/acc"] for s in SETS]
    assert result.metrics["acc_mean"] == sum(per_set) / 8


def test_a_run_trains_in_the_chosen_protocols_format(store, tmp_path, monkeypatch):
    import suite.train
    from suite.runner import Settings, run_sweep
    from suite.sweep import build_sweep
    from suite.tracking import Tracker

    seen = []
    real_train = suite.train.train

    def spy(model, examples, *args, **kwargs):
        seen.append(examples)
        return real_train(model, examples, *args, **kwargs)

    monkeypatch.setattr(suite.train, "train", spy)
    sets = ["train.steps=1", "train.max_examples=3", "eval.max_items=1", "eval.max_new_tokens=2"]
    tracker = Tracker.connect(store, "qbench")
    for protocol in ("apiq", "llm-adapters"):
        sweep = build_sweep(
            models="synthetic:tiny", methods="qlora", bits="4", ranks="4", tasks="commonsense",
            sets=[*sets, f"eval.protocol={protocol}"], data="sample",
        )  # fmt: skip
        summary = run_sweep(sweep, tracker, Settings(cache=tmp_path / "cache", progress=False))
        assert len(summary.finished) == 1 and not summary.failed
    apiq, llma = seen
    assert all(ex["attention_mask"][0] == 0 for ex in apiq)
    assert all((ex["labels"] == ex["input_ids"]).all() for ex in llma)
    runs = tracker.client.search_runs([tracker.experiment_id])
    protocols = sorted(r.data.tags["protocol"] for r in runs)
    assert protocols == ["apiq-2tok-first1", "llm-adapters-2tok-first1"]


def test_each_set_is_decoded_on_its_own(tiny, monkeypatch):
    """The scripts run one set at a time, so a batch never holds two sets' prompts."""
    import tasks.beam

    calls = []
    real = tasks.beam.beam_search

    def spy(model, tok, prompts, *args, **kwargs):
        calls.append(list(prompts))
        return real(model, tok, prompts, *args, **kwargs)

    monkeypatch.setattr(tasks.beam, "beam_search", spy)
    model, tok = tiny
    spec = EvalSpec(protocol="llm-adapters", max_items=3, max_new_tokens=2, batch_size=2)
    result = Commonsense().evaluate(model, tok, spec, SAMPLE)
    assert len(calls) == 8
    for subset, prompts in zip(SETS, calls, strict=True):
        expected = [eval_prompt(instruction(subset, r)[0]) for r in read_rows(SAMPLE, subset, 3)]
        assert prompts == expected
    assert [r["prompt"] for r in result.rows] == [p for c in calls for p in c]
