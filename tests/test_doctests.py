"""The doctests of the library's modules, run by the default ``pytest``.

Every module of the packages suite, methods and tasks whose source holds an example is a test,
found from the files, so that modules in directories without ``__init__.py`` (tasks/lm_eval) are
included too. Left out: tasks/data (the sample-data generators, not library code) and
``__main__`` modules (importing one runs its program). A module whose import needs an optional
GPU dependency that is not installed (Triton) is skipped. The option flags are pytest's
``doctest_optionflags``, so a module's doctests run here exactly as with
``pytest --doctest-modules FILE``. As the other tests do, they run with one torch thread (small
operations are many times slower with threads on a busy CPU), and torch's random state is
restored after each module.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("suite", "methods", "tasks")
EXCLUDED = (Path("tasks/data"),)
OPTIONAL = ("triton",)  # GPU-only dependencies (the "gpu" extra)


def module_names() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel.name == "__main__.py" or any(rel.is_relative_to(e) for e in EXCLUDED):
                continue
            if ">>>" not in path.read_text(encoding="utf-8"):
                continue
            parts = rel.with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", module_names())
def test_doctests(name: str, pytestconfig) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name in OPTIONAL:
            pytest.skip(f"{name} needs {err.name}")
        raise
    import torch

    flags = 0
    for flag in pytestconfig.getini("doctest_optionflags"):
        flags |= doctest.OPTIONFLAGS_BY_NAME[flag]
    runner = doctest.DocTestRunner(optionflags=flags)
    report: list[str] = []
    failed = attempted = 0
    with torch.random.fork_rng(devices=[]):
        for test in doctest.DocTestFinder().find(module, name):
            result = runner.run(test, out=report.append)
            failed += result.failed
            attempted += result.attempted
    if failed:
        pytest.fail(f"{failed} of {attempted} examples failed:\n{''.join(report)}", pytrace=False)
