"""The version of the code behind a prepared model's numbers, and the record that guards it.

Cached prepared models, holdout Gram matrices and the freshness of finished runs are keyed on
:func:`numbers_version`: the version of the method (``version`` in its class), of its quantizer
(``version`` in its class; with the versions of the quantizers it builds on, its class's
``builds_on``: ``magr-gptq`` runs GPTQ) and of the shared harness code (:data:`HARNESS`). Bump the
one whose numbers change, and every cache entry and run made with the old numbers is left behind.

So that a change cannot slip by unversioned, ``numbers.sha256`` (beside this module) records the
sha256 of every source under :data:`SOURCES` with the version of its owner at the time.
``tests/test_code_version.py`` fails when a source no longer has its recorded sum and names the
version to bump; ``python -m suite.code_version --record`` writes the new sums, and refuses a
changed file whose owner's version did not move unless ``--same-numbers`` says the numbers are
unchanged (a comment, a docstring, a refactor).

    >>> numbers_version("qlora", "nf"), numbers_version("cloq", "magr-gptq")
    ('qlora=2;nf=2;harness=2', 'cloq=2;magr-gptq=1;gptq=3;harness=2')
    >>> owner("methods/apiq/walk.py"), owner("suite/quant/gptq.py"), owner("suite/lora.py")
    ('method:apiq', 'quant:gptq', 'harness')
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

# bump when suite/quant's shared storage, suite/lora, the calibration walk, the byte budget
# change; 2: float16 scales and double quantization in the storage, the one quant section
HARNESS = "2"
ROOT = Path(__file__).resolve().parents[1]
RECORD = Path(__file__).with_name("numbers.sha256")
SOURCES = (
    "methods",
    "suite/quant",
    "suite/budget.py",
    "suite/calibration.py",
    "suite/lora.py",
    "suite/holdout.py",
)
_HEADER = (
    "# sha256, owner=version and path of every source behind prepared-model numbers.\n"
    "# Checked by tests/test_code_version.py; rewrite with: python -m suite.code_version --record\n"
)


def numbers_version(method: str, quantizer: str) -> str:
    """The code version of a prepared model made by ``method`` with ``quantizer``."""
    current = versions()
    parts = [f"{method}={current['method:' + method]}"]
    if "quant:" + quantizer in current:
        from suite.quant import quantizer_class

        for name in (quantizer, *getattr(quantizer_class(quantizer), "builds_on", ())):
            parts.append(f"{name}={current['quant:' + name]}")
    return ";".join([*parts, f"harness={HARNESS}"])


def versions() -> dict[str, str]:
    """{owner: version} of every method (``method:<name>``), quantizer (``quant:<name>``) and
    the harness (``harness``)."""
    from suite.quant import QUANTIZERS, quantizer_class
    from suite.registry import methods

    return {
        **{f"method:{name}": str(cls.version) for name, cls in methods().items()},
        **{f"quant:{name}": str(quantizer_class(name).version) for name in QUANTIZERS},
        "harness": HARNESS,
    }


def owner(path: str) -> str:
    """Whose version covers a source file (relative to the repository root, '/'-separated)."""
    from suite.quant import QUANTIZERS
    from suite.registry import methods

    module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    for name, cls in methods().items():
        home = cls.__module__
        if module == home or module.startswith(home + "."):
            return f"method:{name}"
    for name, target in QUANTIZERS.items():
        if module == target.partition(":")[0]:
            return f"quant:{name}"
    return "harness"


def sources(root: Path = ROOT) -> dict[str, str]:
    """{path: sha256} of every Python source under :data:`SOURCES`."""
    found: dict[str, str] = {}
    for entry in SOURCES:
        base = root / entry
        files = [base] if base.suffix == ".py" else sorted(base.rglob("*.py"))
        for file in files:
            found[file.relative_to(root).as_posix()] = hashlib.sha256(file.read_bytes()).hexdigest()
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class Entry:
    sha256: str
    owner: str
    version: str


def read_record(path: Path = RECORD) -> dict[str, Entry]:
    out: dict[str, Entry] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        digest, who, name = line.split()
        holder, _, version = who.partition("=")
        out[name] = Entry(digest, holder, version)
    return out


def write_record(entries: dict[str, Entry], path: Path = RECORD) -> None:
    lines = [f"{e.sha256}  {e.owner}={e.version}  {name}\n" for name, e in sorted(entries.items())]
    path.write_text(_HEADER + "".join(lines), encoding="utf-8")


def problems(record: dict[str, Entry], current: dict[str, str]) -> list[str]:
    """Why the record does not match the sources (empty: it matches)."""
    out = []
    for name in sorted(set(record) | set(current)):
        if name not in current:
            out.append(f"{name} is recorded but gone")
        elif name not in record:
            out.append(f"{name} is new: {_advice(owner(name))}")
        elif record[name].sha256 != current[name]:
            out.append(f"{name} changed: {_advice(owner(name))}")
    return out


def _advice(who: str) -> str:
    kind, _, name = who.partition(":")
    if who == "harness":
        where = "HARNESS in suite/code_version.py"
    else:
        where = (
            f"the `version` of {'quantizer' if kind == 'quant' else 'method'} {name} in its class"
        )
    return (
        f"if it changes any number, bump {where}; then record the sources with "
        "`python -m suite.code_version --record` (add --same-numbers if no number changes)"
    )


def record(
    root: Path = ROOT, path: Path = RECORD, same_numbers: bool = False
) -> tuple[dict[str, Entry], list[str]]:
    """The new record of the sources, and the changed files refused because their owner's
    version did not move (none with ``same_numbers``; a file that changed owner is not refused);
    the record is written only if none."""
    old = read_record(path) if path.is_file() else {}
    current = versions()
    entries, refused = {}, []
    for name, digest in sources(root).items():
        who = owner(name)
        prior = old.get(name)
        # a file whose owner changed (e.g. harness code that became a new quantizer's) is
        # versioned by its new owner from now on: nothing made before carries that version
        same_owner = prior is not None and prior.owner == who
        unmoved = same_owner and prior.version == current[who]
        if prior and prior.sha256 != digest and unmoved and not same_numbers:
            refused.append(f"{name} changed but {who} is still version {current[who]}")
        entries[name] = Entry(digest, who, current[who])
    if not refused:
        write_record(entries, path)
    return entries, refused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suite.code_version", description=__doc__)
    parser.add_argument("--record", action="store_true", help="write numbers.sha256")
    parser.add_argument("--same-numbers", action="store_true", help="the changes move no number")
    args = parser.parse_args(argv)
    if not args.record:
        found = problems(read_record(), sources())
        print("\n".join(found) or "numbers.sha256 matches the sources")
        return 1 if found else 0
    _, refused = record(same_numbers=args.same_numbers)
    for line in refused:
        print(f"refused: {line}; bump its version, or pass --same-numbers", file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
