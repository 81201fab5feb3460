"""WikiText-2 (raw): fine-tune on the train split, report perplexity on the test split.

Protocols:
- ``ppl-test`` (default): the test split's lines joined with "\\n\\n" (the convention of the GPTQ,
  LoftQ and CLoQ code), tokenized once, cut into non-overlapping windows of ``eval.seq_len``
  tokens (2048 in the paper profile; the remainder is dropped), each window scored on its own;
  perplexity = exp(mean next-token NLL). The recorded protocol name carries the window length and,
  when ``eval.max_windows`` limits the split, the number of windows, e.g. ``ppl-test-2048``.
  Training data: the train split joined the same way, cut into ``train.seq_len`` blocks.
- ``ppl-valid``: the same on the validation split (qbench's own; LoftQ's and ApiQ's validation
  numbers come from ``loftq-clm``).
- ``loftq-clm``: exactly the data of LoftQ's and ApiQ's ``train_clm.py`` (Hugging Face's
  ``run_clm``, run by their ``scripts/train_wikitext.sh`` / ``scripts/train_clm.sh`` with
  ``--block_size 1024``), for fine-tuning and evaluation alike: each row of a split (one line of
  the raw files, a blank line an empty row, as the datasets library gives them) is tokenized on
  its own with the tokenizer's special tokens (a BOS token per row, empty rows included, where the
  tokenizer adds one); the token lists of each run of 1,000 rows (one ``datasets.map`` batch) are
  concatenated and cut into blocks of ``eval.seq_len`` tokens, the run's remainder dropped.
  Fine-tuning uses the train split's blocks (``train.seq_len`` must equal ``eval.seq_len``: the
  script has one block size); perplexity is exp of the mean next-token loss over the validation
  split's blocks (the script's ``exp(eval_loss)``), after the last training step: ApiQ's script
  keeps the epoch with the best validation loss (``--load_best_model_at_end``), which would select
  on the reported split; qbench reports the final checkpoint only. ``eval.max_windows`` keeps
  the first N blocks (``-first{N}``), ``train.max_examples`` the first N training blocks.
- ``lm-eval-wikitext``: lm-eval's ``wikitext`` task on the same test split (tasks/
  lm_eval_protocols.py): rolling log-likelihood per article in ``eval.seq_len``-token windows,
  metrics ``lm-eval/word_perplexity``, ``lm-eval/byte_perplexity``, ``lm-eval/bits_per_byte``;
  ``eval.max_items`` keeps the first N articles (recorded as ``-first{N}``).

Sources: ``real`` (the default) is **not WikiText-2**, which no package index ships: it is real
English Wikipedia prose, 10,033 lead sections (:mod:`tasks.real`), split by article into train
(80%), validation and test (10% each), seeded (:mod:`tasks.real.splits`), each article one row,
the rows joined with "\\n\\n" as above (``loftq-clm``: one row each); its recorded protocol
names start with ``wikipedia-`` (``wikipedia-ppl-test-2048``), so its numbers never share a
column with WikiText-2's, and calibration windows come from its train split.
``lm-eval-wikitext`` (which detokenizes WikiText's markup) is not offered on it. ``sample`` reads
tasks/data/wikitext2/wiki.{train,valid,test}.raw; a directory holds the same files (the layout
of the original raw release); ``hub`` loads ``Salesforce/wikitext``,
config ``wikitext-2-raw-v1``, through the datasets library; ``synthetic`` replaces each split by
seeded random ids over the tokenizer's vocabulary (:func:`tasks.base.synthetic_ids`).

    >>> from tasks.wikitext2 import WikiText2
    >>> task = WikiText2()
    >>> task.default_protocol, task.primary_metric, task.direction("eval/wikitext2/ppl")
    ('ppl-test', 'ppl', 'lower')
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from suite.spec import SpecError
from tasks.base import DataSource, EvalResult, Task, perplexity, synthetic_ids, window_nll

HUB_ID = ("Salesforce/wikitext", "wikitext-2-raw-v1")
FILES = {"train": "wiki.train.raw", "validation": "wiki.valid.raw", "test": "wiki.test.raw"}
REAL_PREFIX = "wikipedia-"  # recorded protocol names on the real source (not WikiText-2)
CLM_GROUP_ROWS = 1000  # rows per datasets.map batch: run_clm groups each batch on its own


def split_path(source: DataSource, split: str) -> Path:
    """The file of a split in a local source (``wikitext2/wiki.<split>.raw`` or ``wiki.*``)."""
    return source.root("wikitext2") / FILES[split]


def eval_split(protocol: str) -> str:
    """The split a protocol scores: validation for ``ppl-valid`` and ``loftq-clm``, else test."""
    return "validation" if protocol.startswith(("ppl-valid", "loftq-clm")) else "test"


def read_lines(source: DataSource, split: str) -> list[str]:
    """The split's rows as the datasets library gives them: one line each, newline kept (for
    ``real``: one article each)."""
    if source.kind == "real":
        from tasks.real import splits

        return [a["text"] for a in splits.wikipedia(source.path)[0][split]]
    if source.kind == "hub":
        import datasets

        return list(datasets.load_dataset(*HUB_ID, split=split)["text"])
    path = split_path(source, split)
    if not path.is_file():
        raise FileNotFoundError(f"WikiText-2 {split} split not found: {path}")
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def dataset_rows(source: DataSource, split: str) -> list[str]:
    """The split's rows exactly as the datasets library's WikiText builder makes them from the
    raw files: each line of the file (split at newlines only), newline kept, and a line of
    whitespace only an empty row (the hub and ``real`` rows are already so)."""
    if source.kind in ("real", "hub"):
        return read_lines(source, split)
    path = source.root("wikitext2") / FILES[split]
    if not path.is_file():
        raise FileNotFoundError(f"WikiText-2 {split} split not found: {path}")
    with path.open(encoding="utf-8") as f:
        return [row if row.strip() else "" for row in f]


def joined_ids(tokenizer, source: DataSource, split: str):
    import torch

    if source.kind == "synthetic":
        return synthetic_ids(len(tokenizer), split)
    text = "\n\n".join(read_lines(source, split))
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids[0]
    return ids.to(torch.long)


def windows(ids, seq_len: int, limit: int = 0) -> list:
    n = ids.numel() // seq_len
    if limit:
        n = min(n, limit)
    return [ids[i * seq_len : (i + 1) * seq_len] for i in range(n)]


def clm_blocks(tokenizer, rows: list[str], block_size: int, limit: int = 0) -> list:
    """``run_clm``'s blocks: every row tokenized on its own (special tokens included), the
    token lists of each run of ``CLM_GROUP_ROWS`` rows concatenated and cut into ``block_size``
    tokens, each run's remainder dropped; the first ``limit`` blocks when ``limit`` > 0."""
    import torch

    blocks = []
    for start in range(0, len(rows), CLM_GROUP_ROWS):
        encoded = tokenizer(rows[start : start + CLM_GROUP_ROWS]).input_ids
        ids = torch.tensor([t for row in encoded for t in row], dtype=torch.long)
        blocks += windows(ids, block_size)
        if limit and len(blocks) >= limit:
            return blocks[:limit]
    return blocks


class WikiText2(Task):
    name = "wikitext2"
    summary = (
        "WikiText-2 raw: fine-tune on train, perplexity on test (2048-token windows); "
        "--data real: Wikipedia prose, not WikiText-2"
    )
    version = "1"
    default_protocol = "ppl-test"
    protocols = {
        "ppl-test": "perplexity on the test split, '\\n\\n'-joined, non-overlapping windows "
        "(the GPTQ/LoftQ/CLoQ evaluation stream); trained on the train split joined the same way",
        "ppl-valid": "as ppl-test on the validation split (qbench's own; not LoftQ's: see "
        "loftq-clm)",
        "loftq-clm": "LoftQ's and ApiQ's train_clm.py (HF run_clm): rows tokenized one by one "
        "with their special tokens, concatenated per 1,000 rows, cut into eval.seq_len blocks "
        "(1024 in their scripts), remainder dropped; fine-tuned on the train blocks, perplexity "
        "exp(mean loss) on the validation blocks; final checkpoint only",
        "lm-eval-wikitext": "lm-eval wikitext: rolling log-likelihood per test article",
    }
    metrics = MappingProxyType(
        {
            "ppl": "lower",
            "nll": "lower",
            "lm-eval/word_perplexity": "lower",
            "lm-eval/byte_perplexity": "lower",
            "lm-eval/bits_per_byte": "lower",
        }
    )
    primary_metric = "ppl"

    def protocol_name(self, spec, source: DataSource | None = None) -> str:
        base = super().protocol_name(spec)
        name = f"{base}-{spec.seq_len}"
        if source is not None and source.kind == "real":
            if base.startswith("lm-eval"):
                raise SpecError(
                    f"protocol '{base}' scores WikiText-2's markup, and the real source is "
                    "Wikipedia prose; allowed with --data real: ppl-test, ppl-valid, loftq-clm"
                )
            name = REAL_PREFIX + name
        if base.startswith("lm-eval"):
            from tasks.lm_eval_protocols import require_lm_eval

            require_lm_eval(base)
            return f"{name}-first{spec.max_items}" if spec.max_items else name
        return f"{name}-first{spec.max_windows}" if spec.max_windows else name

    def check(self, spec) -> None:
        clm = self.chosen_protocol(spec.eval.protocol) == "loftq-clm"
        if clm and spec.train.seq_len != spec.eval.seq_len:
            raise SpecError(
                f"train.seq_len {spec.train.seq_len} and eval.seq_len {spec.eval.seq_len} "
                "differ; protocol loftq-clm cuts train and validation into one block size "
                "(1024 in LoftQ/ApiQ): set both to it"
            )

    def data_record(self, source: DataSource) -> dict:
        record = super().data_record(source)
        if source.kind == "real":
            from tasks.real import splits

            record["split"] = splits.wikipedia(source.path)[1]
        return record

    def data_files(self, source: DataSource, spec) -> dict[Path, str]:
        if source.kind != "dir":
            return {}
        split = eval_split(super().protocol_name(spec))
        return {
            split_path(source, "train"): "the WikiText-2 train split",
            split_path(source, split): f"the WikiText-2 {split} split",
        }

    def train_data(
        self, tokenizer, seq_len: int, source: DataSource, max_examples: int = 0, protocol: str = ""
    ):
        if self.chosen_protocol(protocol) == "loftq-clm" and source.kind != "synthetic":
            blocks = clm_blocks(tokenizer, dataset_rows(source, "train"), seq_len, max_examples)
        else:
            blocks = windows(joined_ids(tokenizer, source, "train"), seq_len, max_examples)
        return [{"input_ids": b, "labels": b} for b in blocks]

    def evaluate(self, model, tokenizer, spec, source: DataSource, progress=None) -> EvalResult:
        protocol = self.protocol_name(spec, source)
        base = self.chosen_protocol(spec.protocol)
        if base.startswith("lm-eval"):
            from tasks.lm_eval_protocols import evaluate_wikitext

            lines = read_lines(source, "test")
            return evaluate_wikitext(model, tokenizer, spec, lines, protocol, progress)
        split = eval_split(base)
        if base == "loftq-clm" and source.kind != "synthetic":
            rows = dataset_rows(source, split)
            wins = clm_blocks(tokenizer, rows, spec.seq_len, spec.max_windows)
            size = f"{len(rows)} rows"
        else:
            ids = joined_ids(tokenizer, source, split)
            wins = windows(ids, spec.seq_len, spec.max_windows)
            size = f"{ids.numel()} tokens"
        if not wins:
            raise ValueError(f"the {split} split ({size}) gives no {spec.seq_len}-token window")
        if progress:
            progress(0, total=len(wins))
        total, count = window_nll(model, wins, spec.batch_size, progress)
        rows = [{"split": split, "windows": len(wins), "tokens": count, "nll_sum": total}]
        return EvalResult(
            metrics={"ppl": perplexity(total, count), "nll": total / count},
            rows=rows,
            tokens=len(wins) * spec.seq_len,
            protocol=protocol,
        )
