"""A model's identity: a fingerprint of the files it is loaded from, not of its name.

Prepared models, holdout Gram matrices and run freshness are keyed on this fingerprint, so two
different model folders reached by the same relative name, or a model replaced in place, never
share a cache entry. It hashes what ``from_pretrained`` reads: the config, weight and tokenizer
files of a model folder (a pulled built-in model's or any local one's), the file of a ``.gguf``
model, the repository commit of a Hugging Face id, and for ``synthetic:<shape>`` the shape with
the torch and transformers versions that draw its random weights. File sums are memoised
(:class:`suite.checksum.HashMemo`, under ``<cache>/hashes/``), so only the first fingerprint of
a file reads it.

    >>> from suite.models import resolve
    >>> fp = fingerprint(resolve("synthetic:tiny"), Path("unused"))
    >>> len(fp), fp == fingerprint(resolve("synthetic:llama2-7b"), Path("unused"))
    (16, False)
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from suite import models as model_lib
from suite.checksum import HashMemo
from suite.spec import SpecError, key_of

# what from_pretrained reads from a model folder (weights, config, tokenizer, remote code)
MODEL_SUFFIXES = (".json", ".safetensors", ".bin", ".model", ".txt", ".tiktoken", ".py", ".jinja")
NOT_MODEL = (model_lib.SOURCE_GGUF, model_lib.PULL_RECORD)


def memo_of(cache: Path) -> HashMemo:
    return HashMemo(cache / "hashes")


def model_files(folder: Path) -> list[Path]:
    """The files of a model folder that loading it reads, by name."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix in MODEL_SUFFIXES
        and p.name not in NOT_MODEL
    )


def folder_fingerprint(folder: Path, memo: HashMemo) -> str:
    files = model_files(folder)
    if not files:
        raise SpecError(
            f"model folder {folder} has no model files; allowed: a folder with config.json "
            "and weights (safetensors or bin)"
        )
    return key_of({"files": {p.name: memo.sha256(p) for p in files}})


def fingerprint(ref: model_lib.ModelRef, cache: Path, say=print) -> str:
    """The fingerprint of a resolved model (a built-in model is pulled first)."""
    memo = memo_of(cache)
    if ref.kind == "synthetic":
        return key_of(
            {
                "synthetic": ref.location,
                "config": model_lib.SYNTHETIC[ref.location],
                "torch": _version("torch"),
                "transformers": _version("transformers"),
            }
        )
    if ref.kind == "builtin":
        return folder_fingerprint(model_lib.pull(ref.name, cache, say=say), memo)
    if ref.kind == "gguf":
        return key_of({"gguf": memo.sha256(Path(ref.location))})
    if ref.kind == "dir":
        return folder_fingerprint(Path(ref.location), memo)
    return key_of({"hub": ref.name, "commit": _hub_commit(ref.name)})


def _hub_commit(name: str) -> str:
    """The commit of a hub model that loading it reads (its files at a commit never change)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, allow_patterns=["config.json"])).name
    except Exception as err:  # offline and not cached, unknown id, no access
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise SpecError(
            f"model '{name}' could not be read ({reason}); allowed: a Hugging Face id that is "
            "cached or reachable"
        ) from None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
