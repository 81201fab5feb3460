"""lm-eval's ``qbench`` model type and ``qbench eval``.

- QbenchLM's log-likelihoods (HFLM's batching inside qbench's dense-base context) equal
  HFLM's on the same model to 1e-5, and its generations (qbench's batched KV-cache decoder on
  HFLM's tokenization) are HFLM's ``model.generate`` texts, greedy, with stop strings.
- ``qbench eval`` records ``eval/lm-eval/<task>/<metric>`` on the run, and the numbers equal
  lm-eval's own ``simple_evaluate(model="qbench", model_args="path=<exported folder>")``.
- ``qbench-lm-eval`` (lm-eval's command line with ``qbench`` registered) gives the same
  numbers for ``run=`` (slow: a fresh interpreter).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")

REPO = Path(__file__).resolve().parents[2]
TASKS = ["qbench_cs_arc_easy", "qbench_cs_boolq"]


def instances(kind: str, arguments: list[tuple]) -> list:
    from lm_eval.api.instance import Instance

    return [
        Instance(request_type=kind, doc={}, arguments=args, idx=i)
        for i, args in enumerate(arguments)
    ]


def test_qbench_lm_scores_and_generates_as_hflm(tiny_runs):
    from lm_eval.models.huggingface import HFLM

    from suite.lm_eval_model import QbenchLM

    loaded = tiny_runs.model("qlora")
    ours = QbenchLM(model=loaded.model, tokenizer=loaded.tokenizer, batch_size=3)
    theirs = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=3)
    pairs = [
        ("Question: is ice cold?\nAnswer:", " yes"),
        ("The capital of France is", " Paris, of course."),
        ("1 + 1 =", " 2"),
        ("A much longer context that goes on for a while before the end", " here"),
    ]
    a = ours.loglikelihood(instances("loglikelihood", pairs))
    b = theirs.loglikelihood(instances("loglikelihood", pairs))
    assert [x[1] for x in a] == [x[1] for x in b]
    assert max(abs(x[0] - y[0]) for x, y in zip(a, b, strict=True)) <= 1e-5
    settings = {"until": ["\n", "."], "max_gen_toks": 12, "do_sample": False}
    prompts = [(p, dict(settings)) for p, _ in pairs]
    got = ours.generate_until(instances("generate_until", prompts))
    want = theirs.generate_until(
        instances("generate_until", [(p, dict(settings)) for p, _ in pairs])
    )
    assert got == want
    assert any(got)  # something was generated


def test_qbench_eval_records_lm_eval_metrics_on_the_run(tiny_runs, tmp_path):
    import lm_eval
    from lm_eval.tasks import TaskManager
    from mlflow import MlflowClient

    import suite.lm_eval_model  # noqa: F401  (registers "qbench")
    from tasks.lm_eval_protocols import YAML_DIR

    run = tiny_runs.ids["qlora"]
    res = tiny_runs.cli("eval", run, "--lm-eval-tasks", ",".join(TASKS), "--limit", "6")
    assert res.exit_code == 0, res.output
    client = MlflowClient(tiny_runs.uri)
    recorded = client.get_run(run).data.metrics
    keys = {f"eval/lm-eval/{t}/{m}" for t in TASKS for m in ("acc", "acc_norm")}
    assert keys <= set(recorded)
    for line in res.stdout.strip().splitlines():
        key, value = line.split("\t")
        assert recorded[key] == pytest.approx(float(value), rel=1e-5)
    listed = [a.path for a in client.list_artifacts(run, "lm-eval")]
    assert len(listed) == 1 and listed[0].endswith(".json")

    out = tmp_path / "exported"
    assert tiny_runs.cli("export-model", run, out, "--dtype", "float32").exit_code == 0
    manager = TaskManager(
        include_path=str(YAML_DIR), include_defaults=False, metadata={"qbench_data": "sample"}
    )
    again = lm_eval.simple_evaluate(
        model="qbench",
        model_args=f"path={out}",
        tasks=TASKS,
        task_manager=manager,
        limit=6,
        bootstrap_iters=0,
    )
    for task in TASKS:
        for metric in ("acc", "acc_norm"):
            value = again["results"][task][f"{metric},none"]
            assert recorded[f"eval/lm-eval/{task}/{metric}"] == value


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--lm-eval-tasks", "qbench_cs_arc_eazy"], "unknown lm-eval task 'qbench_cs_arc_eazy'"),
        (["--lm-eval-tasks", "qbench_cs_boolq", "--data", "synthetic"], "has no text"),
        (["--lm-eval-tasks", "qbench_cs_boolq", "--limit", "-1"], "--limit -1"),
    ],
)
def test_qbench_eval_bad_input(tiny_runs, args, fragment):
    from mlflow import MlflowClient

    run = tiny_runs.ids["cloq"]
    before = MlflowClient(tiny_runs.uri).get_run(run).data.metrics
    res = tiny_runs.cli("eval", run, *args)
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], res.output
    assert MlflowClient(tiny_runs.uri).get_run(run).data.metrics == before


@pytest.mark.slow
def test_qbench_lm_eval_command_line(tiny_runs, tmp_path):
    """lm-eval's own command line, with qbench registered, on a run (fresh interpreter)."""
    run = tiny_runs.ids["cloq"]
    args = f"run={run},tracking_uri={tiny_runs.uri},cache_dir={tiny_runs.cache}"
    cmd = [sys.executable, "-m", "suite.lm_eval_model", "--model", "qbench", "--model_args"]
    cmd += [args, "--tasks", TASKS[1], "--include_path", str(REPO / "tasks" / "lm_eval")]
    cmd += ["--limit", "6", "--output_path", str(tmp_path / "out")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = list((tmp_path / "out").rglob("results_*.json"))
    acc = json.loads(result.read_text())["results"][TASKS[1]]["acc,none"]
    res = tiny_runs.cli("eval", run, "--lm-eval-tasks", TASKS[1], "--limit", "6")
    assert res.exit_code == 0, res.output
    assert f"eval/lm-eval/{TASKS[1]}/acc\t{acc:.6g}" in res.stdout
