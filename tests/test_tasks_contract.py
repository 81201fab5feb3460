"""What every task module promises: it imports without torch."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
