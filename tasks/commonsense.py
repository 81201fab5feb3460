"""Commonsense reasoning: fine-tune on Commonsense-170K, evaluate on eight sets by generation.

Training data: Commonsense-170K (LLM-Adapters, Hu et al. 2023), a list of
``{"instruction", "input", "output", "answer"}`` items whose outputs read "the correct answer is
X". Each item is put in LLM-Adapters' instruction template (``finetune.py``'s
``generate_prompt``)::

    Below is an instruction that describes a task. Write a response that appropriately
    completes the request.\\n\\n### Instruction:\\n{instruction}\\n\\n### Response:\\n{output}

(the "paired with an input" variant when ``input`` is not empty) followed by the end-of-sequence
token, with the loss on the response only (cut to ``train.seq_len`` tokens, 256 in LLM-Adapters;
an item whose response would be cut away entirely is left out). This is qbench's own hybrid of
LLM-Adapters and ApiQ (protocols ``greedy`` and ``lm-eval-mc``): the released script's template
literals carry the source file's indentation into the prompt, and by default
(``train_on_inputs=True``) it puts the loss on the prompt as well; here the template is clean
and the loss on the response only, and decoding is greedy. The protocols ``llm-adapters`` and
``apiq`` are each exactly one paper's scripts, training format included
(tasks/commonsense_scripts.py).

Evaluation (protocol ``greedy``, default): the eight test sets of those papers — BoolQ, PIQA,
SIQA, HellaSwag, WinoGrande (validation splits), ARC-Easy, ARC-Challenge, OpenBookQA (test
splits) — each item written as its Commonsense-170K instruction (``instruction``), prompted with
the same template and an empty response, decoded greedily in batches (up to
``eval.max_new_tokens``; LLM-Adapters uses 32; a row stops at EOS or once it has named its
answer after "the correct answer is"), the answer word extracted (tasks/extract.py) and matched
exactly against the gold word. Metrics: ``<set>/acc`` for each set and ``acc_mean``, their
unweighted mean. ``eval.max_items`` keeps the first N items of each set. Protocol
``lm-eval-mc``: lm-eval's zero-shot log-likelihood multiple choice on the same items
(tasks/lm_eval_protocols.py), metrics ``lm-eval/<set>/acc``, ``lm-eval/<set>/acc_norm``,
``lm-eval/acc_mean`` and ``lm-eval/acc_norm_mean``. Protocols ``llm-adapters`` (LLM-Adapters'
``finetune.py`` and ``commonsense_evaluate.py``: its indented templates, loss on the prompt too,
4-beam search, its per-set patterns) and ``apiq`` (ApiQ's ``train_multitask.py``: "instruction\n"
prompts, loss after the prompt, greedy, exact match of the text after "the correct answer is ")
score the same items into the same metric names; every protocol scores the final checkpoint.

Sources, each set in its Hugging Face schema. ``real`` (the default) evaluates every set on its
real items (:mod:`tasks.real`); Commonsense-170K is on no package index, so the fine-tuning
items are real items of the same sets, disjoint from the evaluated ones, seeded and recorded
(:mod:`tasks.real.splits`: 20% of each validation-only set, the validation splits of ARC-e,
ARC-c and OBQA), written as Commonsense-170K writes its items (``instruction`` below, output
"the correct answer is <answer>") and mixed in a seeded order. Their recorded protocol names
start with ``heldout-``, so they never share a column with the papers' protocol. A directory
(or ``sample``, tasks/data/) holds
``commonsense/<set>/<split>.jsonl`` and ``commonsense/commonsense_170k/train.json`` (or the same
without the ``commonsense/`` level). ``hub`` reads the sets from ``HUB`` below through the
datasets library; Commonsense-170K has no canonical hub dataset (it ships in the LLM-Adapters
repository as ``ft-training_set/commonsense_170k.json``), so training with ``hub`` is an error
that says to pass a local directory holding it.

    >>> from tasks.commonsense import Commonsense, instruction
    >>> instruction("boolq", {"question": "is the sky blue", "answer": True, "passage": ""})[1]
    'true'
    >>> task = Commonsense()
    >>> task.primary_metric, task.direction("piqa/acc"), len(task.metrics)  # 8 sets x 3 + 3 means
    ('acc_mean', 'higher', 27)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tasks.base import DataSource, Direction, EvalResult, Task, supervised_examples
from tasks.commonsense_sets import HUB, SETS, check_set
from tasks.extract import choice_complete, extract_choice

TRAIN_FILE = ("commonsense_170k", "train.json")
REAL_PREFIX = "heldout-"  # recorded protocol names on the real source
TEMPLATE = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
)
TEMPLATE_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
    "{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)


def root(source: DataSource) -> Path:
    return source.root("commonsense")


def read_rows(source: DataSource, subset: str, limit: int = 0) -> list[dict[str, Any]]:
    """The evaluation rows of one set in its hub schema (the first ``limit`` if > 0)."""
    check_set(subset)
    hub_id, config, split = HUB[subset]
    if source.kind == "real":
        from tasks.real import splits

        rows = splits.commonsense(source.path, subset).eval
        return rows[:limit] if limit else rows
    if source.kind == "hub":
        import datasets

        data = datasets.load_dataset(hub_id, config, split=split)
        rows = [dict(r) for r in (data.select(range(min(limit, len(data)))) if limit else data)]
        return rows
    path = root(source) / subset / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"commonsense set {subset} ({split} split) not found: {path}")
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
                if limit and len(rows) == limit:
                    break
    return rows


def read_train(source: DataSource, limit: int = 0) -> list[dict[str, Any]]:
    """Commonsense-170K items (the first ``limit`` if > 0); for ``real``, its fine-tuning
    items of the eight sets in that format, in a seeded order."""
    if source.kind == "real":
        items = real_train_items(source)
        return items[:limit] if limit else items
    if source.kind == "hub":
        raise FileNotFoundError(
            "Commonsense-170K is not a canonical hub dataset; put LLM-Adapters' "
            "commonsense_170k.json as commonsense_170k/train.json in a directory and pass "
            "--data DIR"
        )
    path = root(source).joinpath(*TRAIN_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"Commonsense-170K not found: {path}")
    items = json.loads(path.read_text(encoding="utf-8"))
    return items[:limit] if limit else items


def real_train_items(source: DataSource) -> list[dict[str, Any]]:
    """The ``real`` source's fine-tuning items as Commonsense-170K items, sets mixed (seeded)."""
    import random

    from tasks.real import splits

    items = []
    for subset in SETS:
        for row in splits.commonsense(source.path, subset).train:
            text, gold = instruction(subset, row)
            output = f"the correct answer is {gold}"
            items.append({"instruction": text, "input": "", "output": output, "answer": gold})
    random.Random(splits.SEED).shuffle(items)
    return items


def _options(prefix: str, options: list[str], sep: str, before_format: str = "\n\n") -> str:
    """``Prefix1: a<sep>Prefix2: b...`` and the answer-format line, as Commonsense-170K has it."""
    parts = sep.join(f"{prefix.capitalize()}{i}: {text}" for i, text in enumerate(options, 1))
    words = "/".join(f"{prefix}{i}" for i in range(1, len(options) + 1))
    return f"{parts}{before_format}Answer format: {words}"


def _arc(question: str, row: dict) -> tuple[str, str]:
    texts, labels = list(row["choices"]["text"]), list(row["choices"]["label"])
    gold = labels.index(str(row["answerKey"]).strip()) + 1
    head = f"Please choose the correct answer to the question: {question}\n\n"
    return head + _options("answer", texts, " "), f"answer{gold}"


def instruction(subset: str, row: dict) -> tuple[str, str]:
    """(instruction, gold answer word) of one row, worded as Commonsense-170K words its set:
    PIQA's solutions stand in paragraphs of their own; the other sets list their options on
    one line; WinoGrande's answer-format line follows on that same line."""
    if subset == "boolq":
        q = str(row["question"]).strip().rstrip("?")
        text = (
            f"Please answer the following question with true or false, question: {q}?\n\n"
            "Answer format: true/false"
        )
        return text, "true" if row["answer"] in (True, "true", "True", 1) else "false"
    if subset == "piqa":
        head = f"Please choose the correct solution to the question: {row['goal']}\n\n"
        gold = f"solution{int(row['label']) + 1}"
        return head + _options("solution", [row["sol1"], row["sol2"]], "\n\n"), gold
    if subset == "siqa":
        head = (
            "Please choose the correct answer to the question: "
            f"{row['context']} {row['question']}\n\n"
        )
        options = [row["answerA"], row["answerB"], row["answerC"]]
        return head + _options("answer", options, " "), f"answer{int(row['label'])}"
    if subset == "hellaswag":
        head = (
            "Please choose the correct ending to complete the given sentence: "
            f"{row['activity_label']}: {row['ctx']}\n\n"
        )
        gold = f"ending{int(row['label']) + 1}"
        return head + _options("ending", list(row["endings"]), " "), gold
    if subset == "winogrande":
        head = (
            "Please choose the correct answer to fill in the blank to complete the given "
            f"sentence: {row['sentence']}\n\n"
        )
        gold = f"option{int(row['answer'])}"
        return head + _options("option", [row["option1"], row["option2"]], " ", " "), gold
    if subset in ("arc_easy", "arc_challenge"):
        return _arc(row["question"], row)
    if subset == "openbookqa":
        return _arc(row["question_stem"], row)
    raise ValueError(f"unknown commonsense set '{subset}'; allowed: {', '.join(SETS)}")


def fill(instruction_text: str, input_text: str = "") -> str:
    """The LLM-Adapters prompt for an instruction, up to and including "### Response:\\n"."""
    if input_text:
        return TEMPLATE_INPUT.format(instruction=instruction_text, input=input_text)
    return TEMPLATE.format(instruction=instruction_text)


def _metric_names() -> Mapping[str, Direction]:
    """Every metric of both protocols: accuracies, all higher-better."""
    names = ["acc_mean", "lm-eval/acc_mean", "lm-eval/acc_norm_mean"]
    for s in SETS:
        names += [f"{s}/acc", f"lm-eval/{s}/acc", f"lm-eval/{s}/acc_norm"]
    return MappingProxyType(dict.fromkeys(names, "higher"))


class Commonsense(Task):
    name = "commonsense"
    summary = (
        "Commonsense-170K fine-tuning; BoolQ, PIQA, SIQA, HellaSwag, WinoGrande, ARC-e/c, OBQA"
    )
    version = "1"
    default_protocol = "greedy"
    protocols = {
        "greedy": "qbench's own (LLM-Adapters' template without its indentation, loss on the "
        "response only): 8 sets, greedy, the answer word after 'the correct answer is'",
        "lm-eval-mc": "8 sets, lm-eval zero-shot log-likelihood multiple choice (acc, acc_norm)",
        "llm-adapters": "LLM-Adapters' finetune.py + commonsense_evaluate.py: its indented "
        "templates, loss on inputs too, 4-beam search, first match of its per-set regex; "
        "final checkpoint only",
        "apiq": "ApiQ's train_multitask.py (commonsense): 'instruction\\n' prompt, loss after "
        "it, greedy, exact match of the text after 'the correct answer is '; final checkpoint",
    }
    metrics = _metric_names()
    primary_metric = "acc_mean"

    def protocol_name(self, spec, source: DataSource | None = None) -> str:
        base = super().protocol_name(spec)
        if base.startswith("lm-eval"):
            from tasks.lm_eval_protocols import require_lm_eval

            require_lm_eval(base)
            name = base
        else:
            name = f"{base}-{spec.max_new_tokens}tok"
        if source is not None and source.kind == "real":
            name = REAL_PREFIX + name
        return f"{name}-first{spec.max_items}" if spec.max_items else name

    def data_record(self, source: DataSource) -> dict:
        record = super().data_record(source)
        if source.kind == "real":
            from tasks.real import splits

            record["splits"] = {s: splits.commonsense(source.path, s).record() for s in SETS}
        return record

    def data_files(self, source: DataSource, spec) -> dict[Path, str]:
        if source.kind != "dir":
            return {}
        files = {root(source).joinpath(*TRAIN_FILE): "Commonsense-170K (training)"}
        for subset in SETS:
            split = HUB[subset][2]
            files[root(source) / subset / f"{split}.jsonl"] = f"the {subset} {split} split"
        return files

    def train_data(
        self, tokenizer, seq_len: int, source: DataSource, max_examples: int = 0, protocol: str = ""
    ) -> list[dict]:
        base = self.chosen_protocol(protocol)
        items = read_train(source, max_examples)
        if base in ("llm-adapters", "apiq"):
            from tasks import commonsense_scripts as scripts

            make = scripts.llma_examples if base == "llm-adapters" else scripts.apiq_examples
            return make(tokenizer, items, seq_len)
        pairs = [(fill(it["instruction"], it.get("input", "")), it["output"]) for it in items]
        return supervised_examples(tokenizer, pairs, seq_len)

    def evaluate(self, model, tokenizer, spec, source: DataSource, progress=None) -> EvalResult:
        protocol = self.protocol_name(spec, source)
        rows_by_set = {subset: read_rows(source, subset, spec.max_items) for subset in SETS}
        if protocol.removeprefix(REAL_PREFIX).startswith("lm-eval"):
            from tasks.lm_eval_protocols import evaluate_commonsense

            return evaluate_commonsense(model, tokenizer, spec, rows_by_set, protocol, progress)
        items = [  # (set, instruction, gold)
            (subset, *instruction(subset, row)) for subset in SETS for row in rows_by_set[subset]
        ]
        if progress:
            progress(0, total=len(items))
        base = self.chosen_protocol(spec.protocol)
        if base in ("llm-adapters", "apiq"):
            from tasks.commonsense_scripts import evaluate_script

            rows, tokens = evaluate_script(base, model, tokenizer, items, spec, progress)
        else:
            rows, tokens = _evaluate_greedy(model, tokenizer, items, spec, progress)
        hits, counts = dict.fromkeys(SETS, 0), dict.fromkeys(SETS, 0)
        for row in rows:
            hits[row["set"]] += row["correct"]
            counts[row["set"]] += 1
        metrics = {f"{s}/acc": hits[s] / counts[s] for s in SETS if counts[s]}
        if not metrics:
            raise ValueError("no commonsense evaluation items")
        metrics["acc_mean"] = sum(metrics.values()) / len(metrics)
        return EvalResult(metrics=metrics, rows=rows, tokens=tokens, protocol=protocol)


def _evaluate_greedy(model, tokenizer, items, spec, progress):
    """Protocol ``greedy``: per-item rows and the tokens processed."""
    prompts = [fill(text) for _, text, _ in items]
    out = _generate_by_set(model, tokenizer, items, prompts, spec, progress)
    rows = []
    for i, ((subset, _, gold), text) in enumerate(zip(items, out.texts, strict=True)):
        pred = extract_choice(text, subset)
        rows.append(
            {
                "set": subset,
                "id": i,
                "prompt": prompts[i],
                "output": text,
                "extracted": pred,
                "gold": gold,
                "correct": pred == gold,
                "new_tokens": out.new_tokens[i],
            }
        )
    return rows, out.tokens


def _generate_by_set(model, tokenizer, items, prompts, spec, progress):
    """One batched generation over every item; each row's stop rule knows its set."""
    from tasks.generation import Generation, StopRule, generate

    merged = Generation([""] * len(items), [0] * len(items), [0] * len(items), [""] * len(items))
    for subset in SETS:
        idx = [i for i, it in enumerate(items) if it[0] == subset]
        if not idx:
            continue
        rule = StopRule(done=lambda text, s=subset: len(text) if choice_complete(text, s) else None)
        out = generate(
            model,
            tokenizer,
            [prompts[i] for i in idx],
            spec.max_new_tokens,
            spec.batch_size,
            rule,
            progress=progress,
        )
        for j, i in enumerate(idx):
            merged.texts[i] = out.texts[j]
            merged.new_tokens[i] = out.new_tokens[j]
            merged.prompt_tokens[i] = out.prompt_tokens[j]
            merged.stopped_by[i] = out.stopped_by[j]
    return merged
