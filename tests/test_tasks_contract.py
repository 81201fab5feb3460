"""What every task declares: its metrics with their direction, its primary metric, and that its
module imports without torch."""

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from suite.registry import tasks
from suite.spec import EvalSpec
from tasks.base import Task, parse_source

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = parse_source("sample")
HAS_LM_EVAL = importlib.util.find_spec("lm_eval") is not None
# the smallest settings that run each protocol on the sample data with the tiny model
SMALL = {
    ("wikitext2", "ppl-test"): EvalSpec(seq_len=64, max_windows=1, batch_size=1),
    ("wikitext2", "ppl-valid"): EvalSpec(seq_len=64, max_windows=1, batch_size=1),
    ("wikitext2", "loftq-clm"): EvalSpec(seq_len=64, max_windows=1, batch_size=1),
    ("wikitext2", "lm-eval-wikitext"): EvalSpec(seq_len=128, max_items=1, batch_size=1),
    ("gsm8k", "greedy"): EvalSpec(max_items=1, max_new_tokens=2, batch_size=1),
    ("gsm8k", "sample-t0.1"): EvalSpec(max_items=1, max_new_tokens=2, batch_size=1),
    ("gsm8k", "lm-eval-5shot"): EvalSpec(max_items=1, max_new_tokens=2, seq_len=4096),
    ("commonsense", "greedy"): EvalSpec(max_items=1, max_new_tokens=2, batch_size=8),
    ("commonsense", "llm-adapters"): EvalSpec(max_items=1, max_new_tokens=2, batch_size=8),
    ("commonsense", "apiq"): EvalSpec(max_items=1, max_new_tokens=2, batch_size=8),
    ("commonsense", "lm-eval-mc"): EvalSpec(max_items=1, batch_size=8, seq_len=2048),
}


pytestmark = pytest.mark.usefixtures("one_thread")


TASKS = tuple(tasks())


def task(name: str) -> Task:
    return tasks()[name]()


def test_every_task_declares_directions_and_a_primary_metric():
    primary = {name: task(name).primary_metric for name in TASKS}
    assert primary == {"wikitext2": "ppl", "gsm8k": "acc", "commonsense": "acc_mean"}
    for name in TASKS:
        t = task(name)
        assert t.metrics and set(t.metrics.values()) <= {"lower", "higher"}, name
        assert t.primary_metric in t.metrics, name
        assert not hasattr(t, "directions")
        assert set(SMALL) >= {(name, p) for p in t.protocols}  # the test below covers them all


def test_direction_reads_the_declaration():
    wikitext2, gsm8k, commonsense = task("wikitext2"), task("gsm8k"), task("commonsense")
    assert wikitext2.direction("ppl") == "lower"
    assert wikitext2.direction("eval/wikitext2/lm-eval/bits_per_byte") == "lower"
    assert gsm8k.direction("lm-eval/exact_match_flexible") == "higher"
    assert commonsense.direction("eval/commonsense/hellaswag/acc") == "higher"
    assert wikitext2.direction("acc") is None  # another task's metric
    assert wikitext2.direction("eval/gsm8k/ppl") is None  # another task's prefix
    assert commonsense.direction("mmlu/acc") is None


@pytest.mark.parametrize("name", ["wikitext2", "gsm8k", "commonsense"])
def test_evaluate_returns_declared_metrics_only(tiny, name):
    """Under each protocol, on the sample data, every metric key is declared; together the
    protocols return every declared metric."""
    model, tok = tiny
    t = task(name)
    seen: set[str] = set()
    skipped = []
    for protocol in t.protocols:
        if protocol.startswith("lm-eval") and not HAS_LM_EVAL:
            skipped.append(protocol)
            continue
        spec = dataclasses.replace(SMALL[name, protocol], protocol=protocol)
        result = t.evaluate(model, tok, spec, SAMPLE)
        assert result.metrics, protocol
        undeclared = set(result.metrics) - set(t.metrics)
        assert not undeclared, f"{name} {protocol} returns undeclared metrics {undeclared}"
        seen |= set(result.metrics)
    if not skipped:
        assert seen == set(t.metrics), f"declared but never returned: {set(t.metrics) - seen}"


def test_task_modules_import_without_torch():
    code = (
        "import sys, tasks.wikitext2, tasks.gsm8k, tasks.commonsense\n"
        "assert 'tasks.gsm8k' in sys.modules\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not HAS_LM_EVAL, reason="needs lm-eval")
def test_the_lm_eval_adapter_scores_the_rows_it_is_handed(tiny, tmp_path, monkeypatch):
    import tempfile

    from tasks import lm_eval_protocols

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    model, tok = tiny
    items = [{"question": "How many legs have 2 cats?", "answer": "2 * 4 = 8\n#### 8"}]
    shots = [{"question": f"Shot {k}?", "answer": f"So {k}.\n#### {k}"} for k in range(5)]
    spec = EvalSpec(protocol="lm-eval-5shot", max_new_tokens=2, seq_len=4096)
    result = lm_eval_protocols.evaluate_gsm8k(model, tok, spec, items, shots, "p", None)
    (row,) = result.rows
    assert row["prompt"].endswith("Question: How many legs have 2 cats?\nAnswer:")
    assert all(f"Question: Shot {k}?\nAnswer: So {k}.\n#### {k}" in row["prompt"] for k in range(5))
    assert row["gold"] == "8" and result.protocol == "p"
    assert list(tmp_path.iterdir()) == []  # the handed documents are gone once it ends
