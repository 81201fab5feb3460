"""Protocol loftq-clm: the blocks of LoftQ's and ApiQ's train_clm.py (Hugging Face run_clm) and
their perplexity, against the datasets library's batched map with run_clm's grouping written
out here, and a plain loop over the blocks."""

import math
from itertools import chain

import pytest
import torch
from tokenizers.processors import TemplateProcessing

from suite.spec import Budget, CalibSpec, EvalSpec, RunSpec, SpecError, TrainSpec
from suite.sweep import build_sweep
from tasks.base import DataSource, parse_source
from tasks.wikitext2 import FILES, WikiText2, dataset_rows

SAMPLE = parse_source("sample")

pytestmark = pytest.mark.usefixtures("one_thread")


def raw_rows(split: str) -> list[str]:
    """The rows the datasets library's WikiText builder yields for a raw file."""
    rows = []
    with (SAMPLE.root("wikitext2") / FILES[split]).open(encoding="utf-8") as f:
        for line in f:
            rows.append(line if line.strip() else "")
    return rows


def run_clm_blocks(tokenizer, rows: list[str], block_size: int) -> list[list[int]]:
    """run_clm: a batched map tokenizes the text column, a second batched map (1,000 rows a
    batch) chains each batch's token lists and cuts them into block_size chunks."""
    import datasets

    def tokenize_function(examples):
        return tokenizer(examples["text"])

    def group_texts(examples):
        joined = {k: list(chain(*examples[k])) for k in examples}
        total = len(joined["input_ids"]) // block_size * block_size
        out = {
            k: [t[i : i + block_size] for i in range(0, total, block_size)]
            for k, t in joined.items()
        }
        out["labels"] = out["input_ids"].copy()
        return out

    data = datasets.Dataset.from_dict({"text": rows})
    tokenized = data.map(tokenize_function, batched=True, remove_columns=["text"])
    grouped = tokenized.map(group_texts, batched=True)
    assert grouped["labels"] == grouped["input_ids"]
    return grouped["input_ids"]


@pytest.fixture
def bos_tok(tiny):
    """The tiny model's byte tokenizer, made to put its BOS token before every text."""
    import copy

    tok = copy.deepcopy(tiny[1])
    tok.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)]
    )
    assert tok("").input_ids == [tok.bos_token_id]
    return tok


def test_rows_are_the_datasets_librarys():
    rows = dataset_rows(SAMPLE, "train")
    assert rows == raw_rows("train")
    assert len(rows) > 7000 and "" in rows and all(r == "" or r.endswith("\n") for r in rows)


@pytest.mark.parametrize("with_bos", [False, True])
def test_train_and_eval_blocks_are_run_clms(tiny, bos_tok, with_bos, monkeypatch):
    tok = bos_tok if with_bos else tiny[1]
    task = WikiText2()
    train = task.train_data(tok, 256, SAMPLE, protocol="loftq-clm")
    expected = run_clm_blocks(tok, raw_rows("train"), 256)
    assert [ex["input_ids"].tolist() for ex in train] == expected
    assert all(torch.equal(ex["labels"], ex["input_ids"]) for ex in train)
    # more than one group of 1,000 rows, each with its own remainder dropped: fewer blocks
    # than one stream of all the rows would give
    whole = sum(len(tok(r).input_ids) for r in raw_rows("train")) // 256
    first = run_clm_blocks(tok, raw_rows("train")[:1000], 256)
    assert expected[: len(first)] == first and len(first) < len(expected) < whole
    # evaluation scores the validation split's blocks, the first max_windows of them
    seen = []
    monkeypatch.setattr(
        "tasks.wikitext2.window_nll", lambda m, w, b, p=None: seen.extend(w) or (1.0, 1)
    )
    task.evaluate(tiny[0], tok, EvalSpec(protocol="loftq-clm", seq_len=256, max_windows=5), SAMPLE)
    assert [w.tolist() for w in seen] == run_clm_blocks(tok, raw_rows("validation"), 256)[:5]


def test_perplexity_is_exp_of_the_mean_block_loss(tiny):
    model, tok = tiny
    spec = EvalSpec(protocol="loftq-clm", seq_len=128, max_windows=6, batch_size=4)
    result = WikiText2().evaluate(model, tok, spec, SAMPLE)
    blocks = run_clm_blocks(tok, raw_rows("validation"), 128)[:6]
    with torch.inference_mode():
        losses = [
            model(input_ids=torch.tensor([b]), labels=torch.tensor([b])).loss.item() for b in blocks
        ]
    assert math.isclose(result.metrics["ppl"], math.exp(sum(losses) / len(losses)), rel_tol=1e-5)
    assert result.protocol == "loftq-clm-128-first6"
    assert result.rows[0]["split"] == "validation" and result.rows[0]["windows"] == 6


def test_protocol_names_and_block_size_check():
    task = WikiText2()
    spec = EvalSpec(protocol="loftq-clm", seq_len=1024)
    assert task.protocol_name(spec) == "loftq-clm-1024"
    assert task.protocol_name(spec, parse_source("synthetic")) == "loftq-clm-1024"
    assert task.protocol_name(spec, DataSource("real")) == "wikipedia-loftq-clm-1024"

    def run(train_len, eval_len):
        return RunSpec(
            "synthetic:tiny",
            "qlora",
            "wikitext2",
            Budget(),
            CalibSpec(),
            TrainSpec(seq_len=train_len),
            EvalSpec(protocol="loftq-clm", seq_len=eval_len),
        )

    task.check(run(1024, 1024))
    with pytest.raises(SpecError, match="train.seq_len 512 and eval.seq_len 1024 differ") as err:
        task.check(run(512, 1024))
    assert "\n" not in str(err.value)
    task.check(
        RunSpec(
            "synthetic:tiny", "qlora", "wikitext2", Budget(), CalibSpec(), TrainSpec(), EvalSpec()
        )
    )
    with pytest.raises(SpecError, match="loftq-clm cuts train and validation"):
        build_sweep(
            models="synthetic:tiny",
            methods="qlora",
            bits="4",
            ranks="4",
            tasks="wikitext2",
            sets=["eval.protocol=loftq-clm", "train.seq_len=64"],
            data="sample",
        )
