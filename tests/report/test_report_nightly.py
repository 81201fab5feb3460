"""The nightly regression run: its sweep config, script (with a stub qbench), Makefile, workflow."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SWEEP_KEYS = {
    "models",
    "methods",
    "bits",
    "ranks",
    "tasks",
    "seeds",
    "profile",
    "data",
    "experiment",
    "set",
}


def test_sweep_config():
    cfg = yaml.safe_load((REPO / "results" / "nightly.yaml").read_text())
    assert set(cfg) <= SWEEP_KEYS
    assert cfg["models"] == ["smollm2-135m", "gemma3-270m"]  # both built-in architectures
    assert {"qlora", "lora16", "loftq", "cloq", "gptq-lora"} <= set(cfg["methods"])
    assert cfg["bits"] == [2, 4] and cfg["tasks"] == ["wikitext2"] and cfg["seeds"] == [0]
    assert (cfg["profile"], cfg["data"], cfg["experiment"]) == ("quick", "real", "nightly")
    assert isinstance(cfg["set"], dict)


STUB = """#!/usr/bin/env bash
echo "$*" >> "$STUB_LOG"
case "$1" in
  run) exit "${STUB_RUN_RC:-0}" ;;
  report) exit "${STUB_REPORT_RC:-0}" ;;
  compare) exit "${STUB_COMPARE_RC:-0}" ;;
esac
exit 9
"""


@pytest.mark.parametrize(
    ("run_rc", "report_rc", "compare_rc", "expected"),
    [(0, 0, 0, 0), (0, 0, 1, 1), (0, 1, 0, 0), (3, 0, 0, 3), (3, 0, 2, 2), (0, 0, 2, 2)],
)
def test_script_runs_sweep_report_compare_and_exits_with_compare_code(
    tmp_path, run_rc, report_rc, compare_rc, expected
):
    stub = tmp_path / "qbench"
    stub.write_text(STUB)
    stub.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {
        **os.environ,
        "QBENCH": str(stub),
        "STUB_LOG": str(log),
        "STUB_RUN_RC": str(run_rc),
        "STUB_REPORT_RC": str(report_rc),
        "STUB_COMPARE_RC": str(compare_rc),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    uri = f"sqlite:///{tmp_path}/n.db"
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "nightly.sh"), uri],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == expected, proc.stderr
    calls = log.read_text().splitlines()
    assert calls == [
        "run --config results/nightly.yaml --force --no-cache",
        f"report --tracking-uri {uri} --experiment nightly --out results --quiet",
        f"compare --tracking-uri {uri} --experiment nightly "
        "--baseline results/baselines/nightly.json",
    ]


def test_script_is_strict_bash():
    text = (REPO / "scripts" / "nightly.sh").read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert os.access(REPO / "scripts" / "nightly.sh", os.X_OK)


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_makefile_nightly_target():
    out = subprocess.run(["make", "-n", "nightly"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "scripts/nightly.sh" in out.stdout


def test_workflow():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "nightly.yml").read_text())
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    (job,) = wf["jobs"].values()
    steps = job["steps"]
    setup = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "3.11"
    scripts = "\n".join(s.get("run", "") for s in steps)
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in scripts
    assert "pip install -e '.[dev]'" in scripts
    assert scripts.index("torch==2.13.0") < scripts.index("pip install -e")
    assert "scripts/nightly.sh" in scripts
    cache = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache"))
    assert cache["with"]["path"] == "~/.cache/qbench"
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "results/leaderboard.*"
    assert steps.index(upload) > next(
        i for i, s in enumerate(steps) if "scripts/nightly.sh" in s.get("run", "")
    )
