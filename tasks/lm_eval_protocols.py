"""lm-eval protocols: the in-memory model scored by lm-evaluation-harness on qbench's data.

The model under test (a plain transformers model whose target linears are QLinear modules) is
wrapped in lm-eval's ``HFLM(pretrained=model, tokenizer=..., batch_size=...)``; the tasks are
the YAML files in tasks/lm_eval/, loaded with ``TaskManager(include_path=...,
include_defaults=False)`` so that nothing is fetched and start-up takes no time. Each task reads
its rows from its own data source (sample, hub or a directory) exactly as for its native
protocols and hands them to its ``evaluate_*`` function below, which turns them into lm-eval
documents; the ``custom_dataset`` that each YAML names (tasks/lm_eval/utils.py) returns those
documents (:func:`handed_docs`), so lm-eval scores exactly the items the native protocols score.
This module imports no task module.

- ``lm-eval-wikitext`` (wikitext2): lm-eval's ``wikitext`` task — each article of the test
  split (its ``= Title =`` line starts it) detokenized and scored by rolling log-likelihood in
  windows of ``eval.seq_len`` tokens; metrics ``lm-eval/word_perplexity``,
  ``lm-eval/byte_perplexity``, ``lm-eval/bits_per_byte`` (words and bytes counted on the
  original article, as lm-eval does).
  ``eval.max_items`` keeps the first N articles.
- ``lm-eval-5shot`` (gsm8k): lm-eval's ``gsm8k`` task — "Question: ...\\nAnswer:" with five
  worked examples drawn from the train split (lm-eval's seeded sampler), greedy until
  "Question:", at most ``eval.max_new_tokens`` tokens; metrics ``lm-eval/exact_match`` (the
  strict ``#### N`` filter) and ``lm-eval/exact_match_flexible`` (the last number).
- ``lm-eval-mc`` (commonsense): zero-shot log-likelihood multiple choice with lm-eval's own
  prompts for the eight sets (WinoGrande by partial scoring of the sentence's end); metrics
  ``lm-eval/<set>/acc``, ``lm-eval/<set>/acc_norm`` and their unweighted means.

lm-eval is optional (``pip install 'qbench[eval]'``); asking for one of these protocols without
it is a one-line error raised before any model is loaded.

    >>> from tasks.lm_eval_protocols import commonsense_docs, split_articles
    >>> [a["title"] for a in split_articles([" = A = \\n", " x \\n", " = B = \\n", " y \\n"])]
    ['A', 'B']
    >>> row = {"question": "is ice cold", "answer": True, "passage": "Ice is frozen water."}
    >>> (doc,) = commonsense_docs("boolq", [row])["validation"]
    >>> doc["query"], doc["choices"], doc["gold"]
    ('Ice is frozen water.\\nQuestion: is ice cold?\\nAnswer:', ['no', 'yes'], 1)
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from suite.spec import SpecError
from tasks.base import EvalResult
from tasks.commonsense_sets import HUB, check_set

YAML_DIR = Path(__file__).parent / "lm_eval"
TITLE = re.compile(r"^ = ([^=].*) = \n?$")
MC_METRICS = ("acc", "acc_norm")
# Detokenization of WikiText's tokenized text, in order (lm-eval's wikitext protocol):
# contractions, number separators, punctuation, then spaces inside brackets and quotes,
# headings, degrees, line edges, the "N" number placeholder and possessives.
_PLAIN = (
    ("s '", "s'"),
    (" @-@ ", "-"),
    (" @,@ ", ","),
    (" @.@ ", "."),
    (" : ", ": "),
    (" ; ", "; "),
    (" . ", ". "),
    (" ! ", "! "),
    (" ? ", "? "),
    (" , ", ", "),
)
_BRACKETS = (
    (r"\(\s*([^)]*?)\s*\)", r"(\1)"),
    (r"\[\s*([^\]]*?)\s*\]", r"[\1]"),
    (r"{\s*([^}]*?)\s*}", r"{\1}"),
    (r'"\s*([^"]*?)\s*"', r'"\1"'),
    (r"'\s*([^']*?)\s*'", r"'\1'"),
)
_LATE = (
    ("= = = =", "===="),
    ("= = =", "==="),
    ("= =", "=="),
    (" \u00b0 ", "\u00b0"),
    (" \n", "\n"),
    ("\n ", "\n"),
    (" N ", " 1 "),
    (" 's", "'s"),
)


def require_lm_eval(protocol: str) -> None:
    """A SpecError (one line) when lm-eval is not installed."""
    if importlib.util.find_spec("lm_eval") is None:
        raise SpecError(
            f"protocol '{protocol}' needs lm-eval, which is not installed; "
            "install it with: pip install 'qbench[eval]'"
        )


# --- data: what the YAML tasks' custom_dataset functions return ---------------------------

Docs = Mapping[str, list[dict]]  # split -> lm-eval documents
DOCS_KEY = "qbench_docs"  # TaskManager metadata: the folder of the documents handed to run()


def handed_docs(meta: Mapping[str, Any], task: str) -> dict[str, list[dict]]:
    """The splits handed to :func:`run` for one YAML task; ``meta`` is the TaskManager metadata
    that lm-eval passes to the task's ``custom_dataset``."""
    return json.loads((Path(meta[DOCS_KEY]) / f"{task}.json").read_text(encoding="utf-8"))


def detokenize(text: str) -> str:
    """WikiText's tokenized text made plain (``3 @,@ 000`` -> ``3,000``, ``( a )`` -> ``(a)``)."""
    for old, new in _PLAIN:
        text = text.replace(old, new)
    for pattern, replacement in _BRACKETS:
        text = re.sub(pattern, replacement, text)
    for old, new in _LATE:
        text = text.replace(old, new)
    return text


def split_articles(lines: list[str]) -> list[dict[str, str]]:
    """Raw WikiText lines cut into articles (``{"title", "page"}``) at top-level titles."""
    articles: list[dict[str, str]] = []
    for line in lines:
        m = TITLE.match(line)
        if m:
            articles.append({"title": m.group(1).strip(), "page": ""})
        if articles:
            articles[-1]["page"] += line if line.endswith("\n") else line + "\n"
    return articles


def wikitext_docs(lines: list[str], limit: int = 0) -> dict[str, list[dict]]:
    """The test split's articles (the first ``limit`` if > 0) from its raw lines."""
    articles = split_articles(lines)
    return {"test": articles[:limit] if limit else articles}


def gsm8k_docs(items: list[dict], shots: list[dict]) -> dict[str, list[dict]]:
    """The items to score as the test split, the pool of worked examples as the train split."""
    return {"train": shots, "test": items}


def mc_doc(subset: str, row: dict) -> dict[str, Any]:
    """One item as lm-eval's prompt for its set: ``query``, ``choices``, ``gold`` (WinoGrande:
    ``contexts`` to choose between and the shared ``continuation`` scored after them)."""
    if subset == "boolq":
        gold = 1 if row["answer"] in (True, "true", "True", 1) else 0
        query = f"{row['passage']}\nQuestion: {row['question']}?\nAnswer:"
        return {"query": query, "choices": ["no", "yes"], "gold": gold}
    if subset == "piqa":
        query = f"Question: {row['goal']}\nAnswer:"
        return {"query": query, "choices": [row["sol1"], row["sol2"]], "gold": int(row["label"])}
    if subset == "siqa":
        choices = [row["answerA"], row["answerB"], row["answerC"]]
        query = f"Q: {row['context']} {row['question']}\nA:"
        return {"query": query, "choices": choices, "gold": int(row["label"]) - 1}
    if subset == "hellaswag":
        context = f"{row['ctx_a']} {str(row['ctx_b']).capitalize()}"
        query = _hellaswag_clean(f"{row['activity_label']}: {context}")
        choices = [_hellaswag_clean(e) for e in row["endings"]]
        return {"query": query, "choices": choices, "gold": int(row["label"])}
    if subset == "winogrande":
        cut = row["sentence"].index("_")
        contexts = [row["sentence"][:cut] + row[key] for key in ("option1", "option2")]
        continuation = row["sentence"][cut + 1 :].strip()
        gold = int(row["answer"]) - 1
        return {"gold": gold, "contexts": contexts, "continuation": continuation}
    if subset in ("arc_easy", "arc_challenge", "openbookqa"):
        labels = list(row["choices"]["label"])
        gold = labels.index(str(row["answerKey"]).strip())
        question = row["question_stem"] if subset == "openbookqa" else row["question"]
        query = question if subset == "openbookqa" else f"Question: {question}\nAnswer:"
        return {"query": query, "choices": list(row["choices"]["text"]), "gold": gold}
    raise ValueError(f"unknown commonsense set '{subset}'")


def _hellaswag_clean(text: str) -> str:
    """HellaSwag's WikiHow markup removed: `` [title]`` becomes a sentence break, other
    bracketed tags vanish, double spaces collapse."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def commonsense_docs(subset: str, rows: list[dict]) -> dict[str, list[dict]]:
    """One set's rows (hub schema) as lm-eval documents, under the set's evaluation split."""
    check_set(subset)
    return {HUB[subset][2]: [mc_doc(subset, row) for row in rows]}


# --- running lm-eval -----------------------------------------------------------------------


def run(model, tokenizer, docs: Mapping[str, Docs], spec, progress=None) -> dict[str, Any]:
    """Evaluate the YAML tasks named by ``docs`` on the model, each on the documents given
    for it (split -> documents); lm-eval's results dict."""
    require_lm_eval("lm-eval")
    import logging

    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    lm = HFLM(
        pretrained=model,
        tokenizer=copy.deepcopy(tokenizer),
        batch_size=spec.batch_size,
        max_length=spec.seq_len,
        max_gen_toks=spec.max_new_tokens,
    )
    tasks = list(docs)
    with tempfile.TemporaryDirectory(prefix="qbench-lm-eval-") as folder:
        for task, splits in docs.items():
            text = json.dumps({k: list(v) for k, v in splits.items()})
            (Path(folder) / f"{task}.json").write_text(text, encoding="utf-8")
        manager = TaskManager(
            include_path=str(YAML_DIR), include_defaults=False, metadata={DOCS_KEY: folder}
        )
        if progress:
            progress(0, total=len(tasks))
        out = simple_evaluate(
            model=lm,
            tasks=tasks,
            task_manager=manager,
            log_samples=True,
            bootstrap_iters=0,
            random_seed=0,
            numpy_random_seed=1234,
            torch_random_seed=1234,
            fewshot_random_seed=1234,
        )
    if progress:
        progress(len(tasks))
    return out


def _metric(results: dict, task: str, name: str, filt: str = "none") -> float:
    return float(results["results"][task][f"{name},{filt}"])


def _count(tokenizer, texts: list[str]) -> int:
    return sum(len(tokenizer(t).input_ids) for t in texts)


def evaluate_wikitext(
    model, tokenizer, spec, lines: list[str], protocol: str, progress=None
) -> EvalResult:
    """``lm-eval-wikitext`` on the test split's raw ``lines`` (the first ``eval.max_items``
    articles if > 0)."""
    task = "qbench_wikitext2"
    docs = {task: wikitext_docs(lines, spec.max_items)}
    out = run(model, tokenizer, docs, spec, progress)
    names = ("word_perplexity", "byte_perplexity", "bits_per_byte")
    metrics = {f"lm-eval/{n}": _metric(out, task, n) for n in names}
    rows, texts = [], []
    for sample in sorted(out["samples"][task], key=lambda s: s["doc_id"]):
        loglik, words = sample["word_perplexity"]
        texts.append(sample["target"])
        rows.append(
            {
                "id": sample["doc_id"],
                "title": sample["doc"]["title"],
                "words": words,
                "bytes": sample["byte_perplexity"][1],
                "loglikelihood": float(loglik),
            }
        )
    return EvalResult(metrics, rows, _count(tokenizer, texts), protocol)


def evaluate_gsm8k(
    model, tokenizer, spec, items: list[dict], shots: list[dict], protocol: str, progress=None
) -> EvalResult:
    """``lm-eval-5shot`` on ``items`` (``{"question", "answer"}`` rows, all of them scored),
    the five worked examples of each prompt drawn from ``shots`` (the train split)."""
    task = "qbench_gsm8k"
    out = run(model, tokenizer, {task: gsm8k_docs(items, shots)}, spec, progress)
    metrics = {
        "lm-eval/exact_match": _metric(out, task, "exact_match", "strict-match"),
        "lm-eval/exact_match_flexible": _metric(out, task, "exact_match", "flexible-extract"),
    }
    by_doc: dict[int, dict[str, Any]] = {}
    for sample in out["samples"][task]:
        row = by_doc.setdefault(sample["doc_id"], {"id": sample["doc_id"]})
        suffix = "" if sample["filter"] == "strict-match" else "_flexible"
        row["prompt"] = sample["arguments"][0][0]
        row["output"] = sample["resps"][0][0]
        row[f"extracted{suffix}"] = sample["filtered_resps"][0]
        row["gold"] = sample["target"].rsplit("####", 1)[-1].strip()
        row[f"correct{suffix}"] = bool(sample["exact_match"])
    rows = [by_doc[k] for k in sorted(by_doc)]
    tokens = _count(tokenizer, [r["prompt"] + r["output"] for r in rows])
    return EvalResult(metrics, rows, tokens, protocol)


def evaluate_commonsense(
    model, tokenizer, spec, rows: Mapping[str, list[dict]], protocol: str, progress=None
) -> EvalResult:
    """``lm-eval-mc`` on ``rows``: set -> its rows in the set's hub schema (all of them
    scored); the means are over the sets given."""
    sets = list(rows)
    tasks = [f"qbench_cs_{s}" for s in sets]
    docs = {t: commonsense_docs(s, rows[s]) for s, t in zip(sets, tasks, strict=True)}
    out = run(model, tokenizer, docs, spec, progress)
    metrics: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    texts: list[str] = []
    for subset, task in zip(sets, tasks, strict=True):
        for m in MC_METRICS:
            metrics[f"lm-eval/{subset}/{m}"] = _metric(out, task, m)
        for sample in sorted(out["samples"][task], key=lambda s: s["doc_id"]):
            doc = sample["doc"]
            scores = [float(r[0]) for r in sample["filtered_resps"]]
            pairs = [tuple(arg) for arg in sample["arguments"]]
            texts.extend(context + continuation for context, continuation in pairs)
            rows.append(
                {
                    "set": subset,
                    "id": sample["doc_id"],
                    "prompt": pairs[0][0] if "query" in doc else [c for c, _ in pairs],
                    "choices": [c for _, c in pairs],
                    "loglikelihoods": scores,
                    "extracted": max(range(len(scores)), key=scores.__getitem__),
                    "gold": doc["gold"],
                    "correct": bool(sample["acc"]),
                    "correct_norm": bool(sample["acc_norm"]),
                }
            )
    for m in MC_METRICS:
        values = [metrics[f"lm-eval/{s}/{m}"] for s in sets]
        metrics[f"lm-eval/{m}_mean"] = sum(values) / len(values)
    return EvalResult(metrics, rows, _count(tokenizer, texts), protocol)
