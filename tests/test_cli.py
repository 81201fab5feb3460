"""The command line: bad input exits 2 with one line naming the value, and writes nothing."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from suite.cli import cli


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--methods", "qlorra"], "unknown method 'qlorra'"),
        (["--tasks", "wikitext9"], "unknown task 'wikitext9'"),
        (["--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["--bits", "5"], "bits 5 is not allowed"),
        (["--rank", "0"], "rank 0 is not allowed"),
        (["--model", "synthetic:tiny", "--group-size", "48"], "group size 48 does not divide"),
        (
            ["--tracking-uri", "http://127.0.0.1:9"],
            "tracking server http://127.0.0.1:9 is unreachable",
        ),
        (["--set", "train.nope=1"], "unknown setting 'train.nope'"),
        (["--device", "tpu"], "device 'tpu' is not allowed"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, fragment):
    store = tmp_path / "results" / "mlflow.db"
    base = ["run", "--tracking-uri", f"sqlite:///{store}", "--cache-dir", str(tmp_path / "c")]
    base += ["--data", "sample"]
    result = CliRunner().invoke(cli, base + args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "allowed" in lines[0]
    assert not store.exists()


def test_help_ls_and_report_import_no_torch():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from suite.cli import cli\n"
        "for args in (['--help'], ['ls', 'methods'], ['ls', 'models'], ['run', '--help']):\n"
        "    r = CliRunner().invoke(cli, args)\n"
        "    assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ls_lists_the_registered_names():
    out = CliRunner().invoke(cli, ["ls", "methods"]).output
    assert "qlora" in out and "lora16" in out
    assert "wikitext2" in CliRunner().invoke(cli, ["ls", "tasks"]).output
