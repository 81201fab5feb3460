"""Protocol sample-t0.1 is LoftQ's and ApiQ's test_gsm8k.py: their prompt, their training format
(train_gsm8k.py), their sampling settings and stop rule, and their answer extraction, each
against a plain rewrite of their code written here."""

import math
import re

import pytest

from suite.spec import EvalSpec
from tasks.base import parse_source
from tasks.extract import script_gold, script_number
from tasks.generation import Sampling, StopRule, generate
from tasks.gsm8k import GSM8K, prompt, read_items

SAMPLE = parse_source("sample")
QUESTION_PROMPT = (
    "\nAnswer the above question. First think step by step and then answer the final number.\n"
)
ANSWER_PROMPT = "The final answer is: "

pytestmark = pytest.mark.usefixtures("one_thread")


def their_extract(sentence: str) -> float:
    """test_gsm8k.py's extract_answer_number, step by step."""
    sentence = sentence.replace(",", "")
    pred = list(re.findall(r"-?\d+\.?\d*", sentence))
    if not pred:
        return float("inf")
    segment = sentence.split(ANSWER_PROMPT)
    if len(segment) > 1:
        in_segment = list(re.findall(r"-?\d+\.?\d*", segment[1]))
        answer = in_segment[0] if in_segment else float(pred[-1])
    else:
        answer = float(pred[-1])
    if isinstance(answer, str):
        try:
            answer = float(answer)
        except ValueError:
            answer = float("inf")
    return answer


def their_gold(solution: str) -> float:
    """test_gsm8k.py's reference number of a solution."""
    ans = solution.split("####")[-1].replace(",", "")
    try:
        return float(ans)
    except ValueError:
        return float("inf")


OUTPUTS = [
    "She has 3 + 4 = 7 apples.\nThe final answer is:  7",
    "5 * 2 = 10. The final answer is: 1,234.5 and then 99",
    "The final answer is: none. But 12 and 13 remain",
    "The final answer is: 4 The final answer is: 5",
    "the final answer is: 8 (lowercase is no marker) so 9",
    "The final answer is:6 (no space after the colon) then 2",
    "#### 42\nmore text 17",
    "It costs -$5, refund -3.",
    "Counting 3. 4. 5.",
    "no numbers at all",
    "",
    "1,000,000 people and 2,50 cents",
]


def test_extraction_is_theirs():
    solutions = [r["answer"] for r in read_items(SAMPLE, "train", 300)]
    rewritten = [s.replace("####", ANSWER_PROMPT) for s in solutions]
    for text in OUTPUTS + solutions + rewritten:
        ours, theirs = script_number(text), their_extract(text)
        assert ours == theirs or (math.isinf(ours) and math.isinf(theirs)), text
    for solution in solutions + ["#### 1,234", "#### x", "no marker 5"]:
        ours, theirs = script_gold(solution), their_gold(solution)
        assert ours == theirs or (math.isinf(ours) and math.isinf(theirs)), solution
    assert script_number("The final answer is: 4 The final answer is: 5") == 4.0


def test_prompt_is_theirs():
    for item in read_items(SAMPLE, "test", 20):
        assert prompt(item["question"]) == f"{item['question']}{QUESTION_PROMPT}"


@pytest.mark.parametrize("limit", ["roomy", "tight"])
def test_training_examples_are_train_gsm8ks(tiny, limit):
    """train_gsm8k.py: source and source + target (EOS written as text) tokenized with
    truncation at model_max_length, the source's tokens labelled IGNORE_INDEX."""
    _, tok = tiny
    items = read_items(SAMPLE, "train", 40)
    longest = max(len(tok(f"{it['question']}{QUESTION_PROMPT}").input_ids) for it in items)
    max_length = 2048 if limit == "roomy" else longest + 8
    examples = GSM8K().train_data(tok, max_length, SAMPLE, max_examples=40, protocol="sample-t0.1")
    assert len(examples) == len(items)
    cut = 0
    for item, ex in zip(items, examples, strict=True):
        source = f"{item['question']}{QUESTION_PROMPT}"
        target = f"{item['answer']}{tok.eos_token}".replace("####", ANSWER_PROMPT)
        ids = tok(source + target, max_length=max_length, truncation=True).input_ids
        n_source = len(tok(source, max_length=max_length, truncation=True).input_ids)
        assert n_source < len(ids)
        labels = [-100] * n_source + ids[n_source:]
        assert ex["input_ids"].tolist() == ids and ex["labels"].tolist() == labels
        cut += ids[-1] != tok.eos_token_id
    assert (cut > 0) == (limit == "tight")  # the tight limit really cuts some


def test_evaluation_samples_in_test_order_and_scores_their_way(tiny):
    model, tok = tiny
    spec = EvalSpec(protocol="sample-t0.1", max_items=5, max_new_tokens=12, batch_size=2)
    result = GSM8K().evaluate(model, tok, spec, SAMPLE)
    items = read_items(SAMPLE, "test", 5)
    prompts = [f"{it['question']}{QUESTION_PROMPT}" for it in items]
    sampling = Sampling(temperature=0.1, top_k=40, top_p=0.95, seed=42)
    # batches of 2 in the items' order, stopped only by EOS or the token budget
    same = generate(model, tok, prompts, 12, 2, StopRule(), sampling, order="given")
    assert [r["output"] for r in result.rows] == same.texts
    assert {r["stopped_by"] for r in result.rows} <= {"eos", "length"}
    hits = 0
    for row, item in zip(result.rows, items, strict=True):
        pred, gold = their_extract(row["output"]), their_gold(item["answer"])
        assert row["extracted"] == repr(pred) and row["gold"] == repr(gold)
        assert row["correct"] == (pred == gold)
        hits += pred == gold
    assert result.metrics["acc"] == hits / 5
    assert result.protocol == "sample-t0.1-12tok-first5"
