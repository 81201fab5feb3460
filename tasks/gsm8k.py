"""GSM8K: fine-tune on the train split's worked solutions, score exact answers on the test split.

Training follows LoftQ's released ``train_gsm8k.py`` (also used by ApiQ): the source is the
question followed by ``QUESTION_PROMPT`` ("\\nAnswer the above question. First think step by step
and then answer the final number.\\n"); the target is the worked solution with ``####`` replaced
by ``"The final answer is: "``, then the end-of-sequence token; the loss is on the target only.
Examples longer than ``train.seq_len`` tokens (512 in LoftQ) are cut at the end (and left out
when nothing of the target would remain).

Protocols (zero-shot after fine-tuning, the same prompt as in training, the first
``eval.max_items`` test items or all of them, up to ``eval.max_new_tokens`` new tokens):

- ``greedy`` (default): batched greedy decoding (tasks/generation.py). A row stops at the
  end-of-sequence token or once it has finished its answer line (``#### N`` or "The final answer
  is: N" followed by a line break); nothing else stops it, so the text scored is what the papers'
  scripts score.
- ``sample-t0.1``: exactly LoftQ's ``test_gsm8k.py`` (ApiQ's ``finetuning/test_gsm8k.py`` is
  the same): the same prompt, tokenized with the tokenizer's special tokens; the test items
  batched in their own order (``eval.batch_size``; the scripts use 16) and left-padded; sampling
  at temperature 0.1, top-k 40, top-p 0.95 (transformers' warpers, in their order); a row stops
  only at EOS or after ``eval.max_new_tokens`` (256 in the scripts): no answer-line stop; the
  extraction of their ``extract_answer_number`` (tasks/extract.py ``script_number``: the first
  number after "The final answer is: ", else the last number, compared as floats with the
  number after ``####``). The draws come from qbench's own generator seeded with 42 (their
  ``set_seed(42)`` seeds the device's global stream, which no other program reproduces) and
  depend on the batch composition, so parity runs keep ``eval.batch_size`` at 16. Their scripts
  evaluate every saved epoch (``--ckpt_dir``); qbench scores the final checkpoint only, and never
  selects one by its test score. Training data as above (their ``train_gsm8k.py``).
- ``lm-eval-5shot``: lm-eval's ``gsm8k`` protocol (5-shot "Question: ... Answer:" prompts,
  greedy until "Question:", strict and flexible answer filters) through
  tasks/lm_eval_protocols.py; metrics ``lm-eval/exact_match`` (strict) and
  ``lm-eval/exact_match_flexible``.

Extraction: tasks/extract.py (the number after the answer marker, else the last number); a
prediction is correct when it equals the number after the solution's ``####`` exactly (as
decimals: ``3.50`` equals ``3.5``). Metric: ``acc``. The recorded protocol name carries the
token budget and the item cap, e.g. ``greedy-256tok`` or ``greedy-128tok-first25``.

Sources: ``real`` (the default) reads the real GSM8K test set (1,319 items, :mod:`tasks.real`);
GSM8K's train split is on no package index, so a seeded 319 of the test items are the
fine-tuning data and the other 1,000 are evaluated (:mod:`tasks.real.splits`; the split is
recorded on every run). Every protocol's recorded name then starts with ``heldout-``
(``heldout-greedy-256tok``), so these numbers never share a column with the papers' protocol,
which evaluates all 1,319 items after fine-tuning on the 7,473 train items. ``hub`` loads
``openai/gsm8k`` config ``main`` (the real train and test splits); a directory holds
``train.jsonl`` and ``test.jsonl`` (rows with ``question`` and ``answer``, the layout of the
original release), in ``<dir>/gsm8k/`` or in ``<dir>`` itself; ``sample`` reads 2000 train and
100 test problems written by this project's generator (tasks/data/gsm8k/, not GSM8K problems).

    >>> from tasks.gsm8k import GSM8K, prompt
    >>> GSM8K().default_protocol, prompt("What is 2+2?").endswith("final number.\\n")
    ('greedy', True)
    >>> GSM8K().primary_metric, sorted(GSM8K().metrics), GSM8K().direction("acc")
    ('acc', ['acc', 'lm-eval/exact_match', 'lm-eval/exact_match_flexible'], 'higher')
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import MappingProxyType

from tasks.base import DataSource, EvalResult, Task, supervised_examples
from tasks.extract import extract_number, format_number, gold_number, script_gold, script_number

HUB_ID = ("openai/gsm8k", "main")
FILES = MappingProxyType({"train": "train.jsonl", "test": "test.jsonl"})
REAL_PREFIX = "heldout-"  # recorded protocol names on the real source
QUESTION_PROMPT = (
    "\nAnswer the above question. First think step by step and then answer the final number.\n"
)
ANSWER_PROMPT = "The final answer is: "
# tasks.generation.Sampling settings of the sample-t0.1 protocol
PARITY_SAMPLING = MappingProxyType({"temperature": 0.1, "top_k": 40, "top_p": 0.95, "seed": 42})
ANSWER_LINE = re.compile(
    r"(?:####|the final answer is:?)[ \t]*[-$]?[ \t]*\$?\d[\d,]*(?:\.\d+)?[^\n]*\n", re.IGNORECASE
)


def read_items(source: DataSource, split: str, limit: int = 0) -> list[dict]:
    """The split's rows as ``{"question", "answer"}`` dicts (the first ``limit`` if > 0)."""
    if split not in FILES:
        raise ValueError(f"unknown GSM8K split '{split}'; allowed: train, test")
    if source.kind == "real":
        from tasks.real import splits

        part = splits.gsm8k(source.path)
        rows = part.train if split == "train" else part.eval
    elif source.kind == "hub":
        import datasets

        data = datasets.load_dataset(*HUB_ID, split=split)
        rows = [{"question": r["question"], "answer": r["answer"]} for r in data]
    else:
        path = source.root("gsm8k") / FILES[split]
        if not path.is_file():
            raise FileNotFoundError(f"GSM8K {split} split not found: {path}")
        with path.open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    return rows[:limit] if limit else rows


def prompt(question: str) -> str:
    return f"{question}{QUESTION_PROMPT}"


def target(answer: str) -> str:
    """The training target: LoftQ's rewrite of the solution (``####`` -> the answer prompt)."""
    return answer.replace("####", ANSWER_PROMPT)


def answer_done(text: str) -> int | None:
    """Where a row may stop: the end of its first finished answer line (None: not yet)."""
    m = ANSWER_LINE.search(text)
    return m.end() - 1 if m else None


class GSM8K(Task):
    name = "gsm8k"
    summary = "GSM8K: fine-tune on worked solutions, zero-shot greedy exact answer on test"
    version = "2"
    default_protocol = "greedy"
    protocols = {
        "greedy": "zero-shot after fine-tuning (LoftQ's train_gsm8k.py format), greedy, stop "
        "after the answer line, number after the marker else the last vs '#### N' (exact)",
        "sample-t0.1": "LoftQ's/ApiQ's test_gsm8k.py: their prompt, batches in test order, "
        "sampled T=0.1 top-k 40 top-p 0.95 (seed 42), EOS-only stop, their float extraction; "
        "trained as their train_gsm8k.py; final checkpoint only",
        "lm-eval-5shot": "lm-eval gsm8k: 5-shot, greedy until 'Question:', exact match",
    }
    metrics = MappingProxyType(
        {
            "acc": "higher",
            "lm-eval/exact_match": "higher",
            "lm-eval/exact_match_flexible": "higher",
        }
    )
    primary_metric = "acc"

    def protocol_name(self, spec, source: DataSource | None = None) -> str:
        base = super().protocol_name(spec)
        if base.startswith("lm-eval"):
            from tasks.lm_eval_protocols import require_lm_eval

            require_lm_eval(base)
        name = f"{base}-{spec.max_new_tokens}tok"
        if source is not None and source.kind == "real":
            name = REAL_PREFIX + name
        return f"{name}-first{spec.max_items}" if spec.max_items else name

    def data_record(self, source: DataSource) -> dict:
        record = super().data_record(source)
        if source.kind == "real":
            from tasks.real import splits

            record["split"] = splits.gsm8k(source.path).record()
        return record

    def data_files(self, source: DataSource, spec) -> dict[Path, str]:
        if source.kind != "dir":
            return {}
        return {source.root("gsm8k") / FILES[s]: f"the GSM8K {s} split" for s in FILES}

    def train_data(
        self, tokenizer, seq_len: int, source: DataSource, max_examples: int = 0, protocol: str = ""
    ) -> list[dict]:
        self.chosen_protocol(protocol)  # every protocol trains as LoftQ's train_gsm8k.py
        rows = read_items(source, "train", max_examples)
        pairs = [(prompt(r["question"]), target(r["answer"])) for r in rows]
        return supervised_examples(tokenizer, pairs, seq_len)

    def evaluate(self, model, tokenizer, spec, source: DataSource, progress=None) -> EvalResult:
        protocol = self.protocol_name(spec, source)
        base = protocol.removeprefix(REAL_PREFIX)
        items = read_items(source, "test", spec.max_items)
        if not items:
            raise ValueError("the GSM8K test split is empty")
        if base.startswith("lm-eval"):
            from tasks.lm_eval_protocols import evaluate_gsm8k

            shots = read_items(source, "train")
            return evaluate_gsm8k(model, tokenizer, spec, items, shots, protocol, progress)
        from tasks.generation import Sampling, StopRule, generate

        script = self.chosen_protocol(spec.protocol) == "sample-t0.1"
        prompts = [prompt(r["question"]) for r in items]
        if progress:
            progress(0, total=len(prompts))
        out = generate(
            model,
            tokenizer,
            prompts,
            spec.max_new_tokens,
            spec.batch_size,
            StopRule() if script else StopRule(done=answer_done),
            Sampling(**PARITY_SAMPLING) if script else Sampling(),
            progress,
            order="given" if script else "length",
        )
        rows, correct = [], 0
        for i, (item, text) in enumerate(zip(items, out.texts, strict=True)):
            if script:
                pred, gold = script_number(text), script_gold(item["answer"])
                ok, shown = pred == gold, (repr(pred), repr(gold))
            else:
                pred, gold = extract_number(text), gold_number(item["answer"])
                ok, shown = pred is not None and pred == gold, map(format_number, (pred, gold))
            correct += ok
            extracted, gold_text = shown
            rows.append(
                {
                    "id": item.get("id", i),
                    "prompt": prompts[i],
                    "output": text,
                    "extracted": extracted,
                    "gold": gold_text,
                    "correct": ok,
                    "new_tokens": out.new_tokens[i],
                    "stopped_by": out.stopped_by[i],
                }
            )
        return EvalResult(
            metrics={"acc": correct / len(items)},
            rows=rows,
            tokens=out.tokens,
            protocol=protocol,
        )
