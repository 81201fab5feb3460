"""The commonsense protocols that are exactly a paper's scripts: ``llm-adapters`` and ``apiq``.

``llm-adapters`` is LLM-Adapters' ``finetune.py`` with its defaults and
``commonsense_evaluate.py``:

- training text: ``finetune.py``'s ``generate_prompt`` as its source file writes it, the
  indentation of its triple-quoted literals and the trailing spaces after "the request." kept
  (``TRAIN_TEMPLATE``; the "paired with an input" variant for items with an input), with the
  item's ``output`` as the response; tokenized with the tokenizer's special tokens, cut at
  ``train.seq_len`` (its ``cutoff_len``, 256 in its commands) and followed by EOS when it was
  not cut; the loss on every token, prompt included (its default ``train_on_inputs=True``);
- evaluation prompt: ``commonsense_evaluate.py``'s ``generate_prompt`` (``EVAL_TEMPLATE``, whose
  whitespace differs from the training one), tokenized with special tokens and left-padded in
  batches of ``eval.batch_size`` per set, in its order; beam search with 4 beams and
  ``eval.max_new_tokens`` new tokens (32 in the script; ``do_sample`` is off, so its temperature
  0.1, top-p 0.75 and top-k 40 never act), tasks/beam.py; the whole sequence decoded without
  special tokens, the text after "### Response:" stripped, and the first match of the set's
  pattern (``LLMA_PATTERNS``: ``true|false``, ``solution1|solution2``, ``answer1|...|answer5``,
  ``ending1|...|ending4``, ``option1|option2``; case-sensitive, no word boundaries) compared with
  the gold word. The script calls ``generate`` without an attention mask; qbench passes one, so
  padding is never attended (what the script computes for a batch of one prompt). Its
  ``val_set_size`` items and best-checkpoint selection on them are not reproduced: the final
  checkpoint is scored.

``apiq`` is ApiQ's ``finetuning/train_multitask.py`` as ``scripts/train_multitask.sh`` runs it
(``--task commonsense --greedy_decoding``; ``finetuning/dataset.py``,
``finetuning/compute_metrics.py``, ``finetuning/task_config.py``):

- prompt: the instruction followed by "\\n" (the commonsense ``task_prompt_template`` "%s\\n");
- training text: prompt + "the correct answer is " + the item's ``answer`` + the EOS token,
  tokenized with special tokens and cut at ``train.seq_len`` (its ``max_length``, 512); the loss
  on the tokens after the prompt's own tokenization; a pad token with no attention and no loss
  put before every example (so the text's positions start at 1, as the script trains; the pad is
  the unknown token where the tokenizer has one, and tokens equal to it get no attention, as
  ``input_ids != pad_token_id`` gives);
- evaluation: greedy decoding of the prompt (the leading pad has no attention and leaves the
  positions of the prompt unchanged, so it is left out), up to ``eval.max_new_tokens`` (32),
  stopping at the tokenizer's EOS only, in batches of ``eval.batch_size`` per set, in its order;
  the whole sequence decoded without special tokens; the text after the first
  "the correct answer is " (``APIQ_TRIGGER``), left-stripped (empty when the phrase is absent),
  is correct when, stripped, it equals the gold word: nothing may follow the answer word.

Examples whose every token would carry no loss (the prompt alone fills ``train.seq_len``) are
left out: the scripts keep them, and they add no loss there either.

    >>> eval_prompt("Q").endswith("Q\\n\\n" + " " * 16 + "### Response:\\n" + " " * 16)
    True
    >>> llma_extract("the correct answer is answer3", "siqa")
    'answer3'
    >>> apiq_output("Q?\\nthe correct answer is  true")
    'true'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

_PAD = " " * 16  # the indentation inside LLM-Adapters' triple-quoted prompt literals
TRAIN_TEMPLATE = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    f"completes the request.  \n\n{_PAD}### Instruction:\n{_PAD}{{instruction}}\n{_PAD}\n"
    f"{_PAD}### Response:\n{_PAD}{{output}}"
)
TRAIN_TEMPLATE_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request. \n\n"
    f"{_PAD}### Instruction:\n{_PAD}{{instruction}}\n{_PAD}\n"
    f"{_PAD}### Input:\n{_PAD}{{input}}\n{_PAD}\n"
    f"{_PAD}### Response:\n{_PAD}{{output}}"
)
EVAL_TEMPLATE = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    f"completes the request. \n\n{_PAD}### Instruction:\n{_PAD}{{instruction}}\n\n"
    f"{_PAD}### Response:\n{_PAD}"
)
LLMA_RESPONSE = "### Response:"
_ANSWERS = "answer1|answer2|answer3|answer4|answer5"
LLMA_PATTERNS: Mapping[str, re.Pattern] = MappingProxyType(
    {
        "boolq": re.compile("true|false"),
        "piqa": re.compile("solution1|solution2"),
        "siqa": re.compile(_ANSWERS),
        "hellaswag": re.compile("ending1|ending2|ending3|ending4"),
        "winogrande": re.compile("option1|option2"),
        "arc_easy": re.compile(_ANSWERS),
        "arc_challenge": re.compile(_ANSWERS),
        "openbookqa": re.compile(_ANSWERS),
    }
)
APIQ_TRIGGER = "the correct answer is "


def train_text(item: Mapping[str, Any]) -> str:
    """LLM-Adapters' training text of a Commonsense-170K item (finetune.py)."""
    if item.get("input"):
        return TRAIN_TEMPLATE_INPUT.format(
            instruction=item["instruction"], input=item["input"], output=item["output"]
        )
    return TRAIN_TEMPLATE.format(instruction=item["instruction"], output=item["output"])


def eval_prompt(instruction: str) -> str:
    """LLM-Adapters' evaluation prompt (commonsense_evaluate.py)."""
    return EVAL_TEMPLATE.format(instruction=instruction)


def llma_output(full_text: str) -> str:
    """The decoded sequence's text after its first "### Response:", stripped."""
    return full_text.split(LLMA_RESPONSE)[1].strip()


def llma_extract(output: str, subset: str) -> str:
    """The first match of the set's pattern in the stripped output; "" when none."""
    found = LLMA_PATTERNS[subset].search(output.strip())
    return found.group(0) if found else ""


def apiq_prompt(instruction: str) -> str:
    return f"{instruction}\n"


def apiq_output(full_text: str) -> str:
    """What follows the first "the correct answer is " in the decoded sequence, left-stripped;
    "" when the phrase is absent (ApiQ's ``extract_output``)."""
    start = full_text.find(APIQ_TRIGGER)
    return "" if start < 0 else full_text[start + len(APIQ_TRIGGER) :].lstrip()


def llma_examples(tokenizer, items: list[dict], cutoff: int) -> list[dict]:
    """LLM-Adapters' training examples: loss on every token (``train_on_inputs=True``)."""
    import torch

    out = []
    for item in items:
        ids = tokenizer(train_text(item), truncation=True, max_length=cutoff).input_ids
        eos = tokenizer.eos_token_id
        if eos is not None and ids and ids[-1] != eos and len(ids) < cutoff:
            ids = [*ids, eos]
        out.append({"input_ids": torch.tensor(ids), "labels": torch.tensor(ids)})
    return out


def apiq_pad(tokenizer) -> int | None:
    """The pad token of ApiQ's training: the unknown token where there is one."""
    return tokenizer.unk_token_id


def apiq_examples(tokenizer, items: list[dict], max_length: int) -> list[dict]:
    """ApiQ's training examples: loss after the prompt, one leading pad with no attention."""
    import torch

    pad = apiq_pad(tokenizer)
    lead = pad if pad is not None else (tokenizer.pad_token_id or 0)
    out = []
    for item in items:
        prompt = apiq_prompt(item["instruction"])
        text = f"{prompt}{APIQ_TRIGGER}{item['answer']}{tokenizer.eos_token}"
        n_prompt = len(tokenizer(prompt, truncation=True, max_length=max_length).input_ids)
        ids = tokenizer(text, truncation=True, max_length=max_length).input_ids
        if len(ids) <= n_prompt:
            continue
        labels = [-100] * (n_prompt + 1) + ids[n_prompt:]
        mask = [0] + [int(t != pad) for t in ids]
        out.append(
            {
                "input_ids": torch.tensor([lead, *ids]),
                "labels": torch.tensor(labels),
                "attention_mask": torch.tensor(mask),
            }
        )
    return out


def _decode(protocol: str, model, tokenizer, prompts: list[str], spec, progress):
    from tasks.beam import beam_search
    from tasks.generation import generate

    if protocol == "llm-adapters":
        return beam_search(
            model, tokenizer, prompts, spec.max_new_tokens, 4, spec.batch_size, progress=progress
        )
    eos = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    return generate(
        model,
        tokenizer,
        prompts,
        spec.max_new_tokens,
        spec.batch_size,
        progress=progress,
        order="given",
        eos=eos,
    )


def evaluate_script(
    protocol: str, model, tokenizer, items: list[tuple[str, str, str]], spec, progress=None
):
    """Decode and score ``items`` (set, instruction, gold) as ``protocol`` ("llm-adapters" or
    "apiq") does, each set on its own as the scripts run them; per-item rows and the tokens
    processed."""
    make = eval_prompt if protocol == "llm-adapters" else apiq_prompt
    prompts = [make(text) for _, text, _ in items]
    generated: list[list[int]] = [[] for _ in items]
    tokens = 0
    for subset in dict.fromkeys(s for s, _, _ in items):
        idx = [i for i, item in enumerate(items) if item[0] == subset]
        out = _decode(protocol, model, tokenizer, [prompts[i] for i in idx], spec, progress)
        for i, ids in zip(idx, out.ids, strict=True):
            generated[i] = ids
        tokens += out.tokens
    rows = []
    for i, ((subset, _, gold), ids) in enumerate(zip(items, generated, strict=True)):
        full = tokenizer.decode(tokenizer(prompts[i]).input_ids + ids, skip_special_tokens=True)
        if protocol == "llm-adapters":
            output = llma_output(full)
            pred = llma_extract(output, subset)
            ok = pred == gold
        else:
            output = pred = apiq_output(full)
            ok = pred.strip() == gold.strip()
        rows.append(
            {
                "set": subset,
                "id": i,
                "prompt": prompts[i],
                "output": output,
                "extracted": pred,
                "gold": gold,
                "correct": ok,
                "new_tokens": len(ids),
            }
        )
    return rows, tokens
