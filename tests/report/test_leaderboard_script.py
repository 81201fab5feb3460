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


FAKE_BROWSER = """#!/bin/sh
# writes a non-empty file where --screenshot= points, as a browser would
for a in "$@"; do case "$a" in --screenshot=*) printf 'png' > "${a#--screenshot=}";; esac; done
"""


def test_run_md_lists_the_passes_that_made_the_runs(tmp_path, fake_store):
    """Runs made by two passes (another commit, another number of sweep processes) are counted
    per day, commit and workers in RUN.md."""
    store = fake_store()
    day = 1_796_000_000_000  # 2026-11-30 (UTC), in ms
    for i, method in enumerate(("qlora", "loftq", "cloq")):
        tags = {"git_sha": "aaaaaaaaaaaa1111", "workers": "6"}
        store.add_run(method, 2, experiment="leaderboard", tags=tags, start_ms=day + i)
    for i, method in enumerate(("qlora", "loftq")):
        tags = {"git_sha": "bbbbbbbbbbbb2222"}
        store.add_run(method, 4, experiment="leaderboard", tags=tags, start_ms=day + 86_400_000 + i)
    browser = tmp_path / "browser"
    browser.write_text(FAKE_BROWSER)
    browser.chmod(0o755)
    out = tmp_path / "board"
    proc = _run(tmp_path, store.uri, str(out), CHROMIUM=str(browser))
    assert proc.returncode == 0, proc.stderr
    run_md = (out / "RUN.md").read_text()
    assert "- Runs: 5 finished" in run_md
    assert "- 2026-11-30, code aaaaaaaaaa, 6 workers: 3 runs" in run_md
    assert "- 2026-12-01, code bbbbbbbbbb, one process: 2 runs" in run_md
