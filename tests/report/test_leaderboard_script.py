"""scripts/leaderboard.sh: bad arguments and a missing store get one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "leaderboard.sh"


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    qbench = Path(sys.executable).with_name("qbench")
    full = {**os.environ, "QBENCH": str(qbench), **env}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=full, cwd=tmp_path
    )


def test_no_store_is_a_usage_error(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("usage: scripts/leaderboard.sh")


def test_a_missing_store_writes_nothing_and_exits_2(tmp_path):
    out = tmp_path / "board"
    store = f"sqlite:///{tmp_path / 'empty.db'}"
    proc = _run(tmp_path, store, str(out), CHROMIUM="/bin/true")
    assert proc.returncode == 2, proc.stderr
    assert "tracking store not found" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not (out / "baseline.json").exists() and not (out / "leaderboard.png").exists()
