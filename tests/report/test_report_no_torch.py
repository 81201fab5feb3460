"""The reporting commands and ``suite.results`` never import torch (checked in a fresh
interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_report_export_compare_and_results_do_not_import_torch(standard_store, tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        from click.testing import CliRunner
        import suite.report
        from suite.report.commands import compare, export, report
        assert "torch" not in sys.modules, "importing suite.report imported torch"
        uri, out = {standard_store.uri!r}, {str(tmp_path)!r}
        r = CliRunner().invoke(report, ["--tracking-uri", uri, "--out", out, "-q"])
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(export, ["--tracking-uri", uri, "--out", out + "/b.json"])
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(compare, ["--tracking-uri", uri, "--baseline", out + "/b.json"])
        assert r.exit_code == 0, r.output
        for fmt in ("csv", "parquet", "json"):
            r = CliRunner().invoke(report, ["--tracking-uri", uri, "--out", out, "--format", fmt])
            assert r.exit_code == 0, r.output
        from suite.results import load_runs
        assert len(load_runs(uri)) > 0
        loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
        assert not loaded, loaded[:5]
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok")
    assert (tmp_path / "leaderboard.html").is_file()
    assert all((tmp_path / f"runs.{fmt}").is_file() for fmt in ("csv", "parquet", "json"))
