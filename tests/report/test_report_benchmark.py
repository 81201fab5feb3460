"""Speed of `qbench report` and `qbench compare` on a store with ~300 runs (pytest-benchmark).

Deselected by default; run with::

    PYTHONPATH=. python -m pytest tests/report/test_report_benchmark.py -m benchmark
"""

from __future__ import annotations

import pytest

from suite.report.commands import compare, export, report

pytestmark = [pytest.mark.benchmark, pytest.mark.slow]

METHODS = ("qlora", "loftq", "cloq", "apiq", "gptq-lora", "lora16")
BITS = (2, 3, 4)
SEEDS = (0, 1, 2, 3, 4)
TASKS = ("wikitext2", "gsm8k", "commonsense")


@pytest.fixture(scope="module")
def big_store(store_factory):
    """6 methods x 3 bits x 5 seeds x 3 tasks = 270 finished runs, plus 20 superseded
    duplicates and 10 failed runs: 300 runs."""
    store = store_factory()
    for task in TASKS:
        for method in METHODS:
            for bits in BITS:
                for seed in SEEDS:
                    store.add_run(method, bits, seed, task=task)
    for seed in range(20):
        store.add_run("cloq", 2, seed % 5, tags={"run_key": f"dup-{seed}"})
    for seed in range(10):
        store.add_run("loftq", 3, seed, status="FAILED")
    assert len(store.run_ids) == 300
    return store


def test_report_300_runs(benchmark, big_store, tmp_path, cli):
    args = ["--tracking-uri", big_store.uri, "--out", tmp_path, "-q"]
    res = benchmark.pedantic(lambda: cli(report, args), rounds=3, iterations=1, warmup_rounds=1)
    assert res.exit_code == 0
    assert "Runs used: 290 finished" in (tmp_path / "leaderboard.md").read_text()
    assert benchmark.stats.stats.mean < 30


def test_compare_300_runs(benchmark, big_store, tmp_path, cli):
    base = tmp_path / "base.json"
    assert cli(export, ["--tracking-uri", big_store.uri, "--out", base]).exit_code == 0
    args = ["--tracking-uri", big_store.uri, "--baseline", base]
    res = benchmark.pedantic(lambda: cli(compare, args), rounds=3, iterations=1, warmup_rounds=1)
    assert res.exit_code == 0, res.output
    assert "of 290 baseline entries" in res.stdout
    assert benchmark.stats.stats.mean < 15
