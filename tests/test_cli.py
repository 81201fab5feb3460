"""The command line: bad input exits 2 with one line naming the value, and writes nothing."""

import shutil
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


def _dir(tmp_path, name):
    path = tmp_path / name
    path.mkdir()
    return path


def _file(tmp_path, name, text="", mode=None):
    path = tmp_path / name
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)
    return path


# Each case: (flags as a function of tmp_path, a fragment of the one-line error). The store is
# tmp_path/results/mlflow.db unless the case names another --tracking-uri.
BAD_INPUT = {
    "group size 0": (lambda t: ["--group-size", "0"], "group size 0 is not allowed"),
    "group size 1.5": (lambda t: ["--group-size", "1.5"], "group size '1.5' is not allowed"),
    "rank 1.5": (lambda t: ["--rank", "1.5"], "rank '1.5' is not allowed"),
    "seeds 1.5": (lambda t: ["--seeds", "1.5"], "seed '1.5' is not allowed"),
    "seeds empty": (lambda t: ["--seeds", ""], "--seeds '' names nothing"),
    "methods empty": (lambda t: ["--methods", ","], "--methods ',' names nothing"),
    "cuda without a GPU": (lambda t: ["--device", "cuda"], "device 'cuda' is not available"),
    "cuda:3 of one GPU": (lambda t: ["--device", "cuda:3"], "device 'cuda:3' is not available"),
    "store is a folder": (
        lambda t: ["--tracking-uri", f"sqlite:///{_dir(t, 'storedir')}"],
        "storedir cannot be written: it is a folder",
    ),
    "read-only store": (
        lambda t: ["--tracking-uri", f"sqlite:///{_file(t, 'ro.db', mode=0o444)}"],
        "ro.db cannot be written: it is read-only",
    ),
    "store in a read-only folder": (
        lambda t: ["--tracking-uri", f"sqlite:///{t / 'locked'}/new/mlflow.db"],
        "locked is read-only",
    ),
    "model dir without config.json": (
        lambda t: ["--model", str(_dir(t, "model"))],
        "has no config.json",
    ),
    "cache dir is a file": (
        lambda t: ["--cache-dir", str(_file(t, "cachefile"))],
        "cache folder",
    ),
    "data dir of the wrong layout": (
        lambda t: ["--data", str(_dir(t, "data"))],
        "has no wiki.train.raw (the WikiText-2 train split)",
    ),
    "gsm8k data missing": (
        lambda t: ["--data", str(_wikitext_only(t)), "--tasks", "gsm8k"],
        "(the GSM8K train split)",
    ),
    "lr inf": (lambda t: ["--set", "train.lr=inf"], "lr='inf' is not allowed"),
    "lr nan": (lambda t: ["--set", "train.lr=nan"], "lr='nan' is not allowed"),
    "method knob inf": (
        lambda t: ["--methods", "cloq", "--set", "method.cloq.damp=-inf"],
        "damp='-inf' is not allowed",
    ),
    "unknown target module": (
        lambda t: ["--set", "budget.target_modules=nope"],
        "target module 'nope' is not a linear sublayer of synthetic:tiny",
    ),
    "rank above the layer": (
        lambda t: ["--rank", "65"],
        "rank 65 is larger than k_proj's 64x128 weight",
    ),
    "malformed YAML": (
        lambda t: ["--config", str(_file(t, "bad.yaml", "methods: [qlora\nbits: 4\n"))],
        "is not valid YAML (expected ',' or ']', but got ':' at line 2, column 5)",
    ),
    "YAML list": (
        lambda t: ["--config", str(_file(t, "list.yaml", "- qlora\n"))],
        "is a YAML list, not a mapping",
    ),
    "empty experiment": (lambda t: ["--experiment", " "], "experiment name ' ' is not allowed"),
    "unknown executor": (lambda t: ["--executor", "spark"], "executor 'spark' is not allowed"),
    "ray address, local executor": (
        lambda t: ["--ray-address", "10.0.0.1:6379"],
        "--ray-address '10.0.0.1:6379' is only used with --executor ray",
    ),
    "retries, local executor": (
        lambda t: ["--retries", "2"],
        "--retries '2' is only used with --executor ray",
    ),
    "ray with a sqlite store": (
        lambda t: ["--executor", "ray"],
        "cannot be used with --executor ray: every Ray task records its run itself, so the "
        "store must be an MLflow tracking server",
    ),
    "ray retries not a count": (
        lambda t: ["--executor", "ray", "--retries", "-1"],
        "--retries '-1' is not allowed",
    ),
}


def _wikitext_only(tmp_path):
    from tasks.base import DATA_DIR

    root = _dir(tmp_path, "wt")
    shutil.copytree(DATA_DIR / "wikitext2", root / "wikitext2")
    return root


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_every_bad_input_exits_2_with_one_line_before_anything_is_written(
    tmp_path, monkeypatch, case
):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: case == "cuda:3 of one GPU")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    flags, fragment = BAD_INPUT[case]
    store = tmp_path / "results" / "mlflow.db"
    base = ["run", "--model", "synthetic:tiny", "--methods", "qlora", "--no-progress"]
    base += ["--tracking-uri", f"sqlite:///{store}", "--cache-dir", str(tmp_path / "cache")]
    locked = _dir(tmp_path, "locked")  # read-only, for the case that needs one
    locked.chmod(0o555)
    try:
        args = flags(tmp_path)
        made = sorted(p for p in tmp_path.rglob("*"))
        result = CliRunner().invoke(cli, base + args)
        after = sorted(p for p in tmp_path.rglob("*"))
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "allowed" in lines[0], lines
    assert after == made, "the command wrote something"  # no store, no cache, no folder
    assert not store.exists() and not (tmp_path / "cache").exists()
    if case == "read-only store":
        assert (tmp_path / "ro.db").read_text() == ""


def test_a_valid_sweep_passes_the_same_checks(tmp_path):
    """The checks reject the bad values only: the same flags with good values list the runs."""
    from tasks.base import DATA_DIR

    args = ["run", "--model", "synthetic:tiny", "--methods", "qlora", "--dry-run", "--rank", "64"]
    args += ["--group-size", "32", "--seeds", "0,1", "--set", "budget.target_modules=k_proj"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--data", str(DATA_DIR)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2


def test_executor_ray_without_ray_installed_is_one_line(tmp_path):
    """Where ray cannot be imported, --executor ray says how to install it; nothing written."""
    code = (
        "import sys\n"
        "sys.modules['ray'] = None  # import ray fails as where it is not installed\n"
        "from suite.cli import main\n"
        "sys.argv = ['qbench', *sys.argv[1:]]\n"
        "main()\n"
    )
    args = ["run", "--model", "synthetic:tiny", "--executor", "ray"]
    args += ["--tracking-uri", "http://127.0.0.1:9", "--cache-dir", str(tmp_path / "cache")]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    (line,) = done.stderr.splitlines()
    assert "--executor ray needs the ray package, which is not installed" in line
    assert "pip install -e '.[ray]'" in line and "allowed" in line
    assert list(tmp_path.iterdir()) == []


def test_the_local_executor_never_imports_ray(tmp_path):
    """suite.runner and a whole local sweep (qbench run --executor local) leave ray unimported."""
    code = (
        "import sys\n"
        "import suite.runner\n"
        "assert 'ray' not in sys.modules, 'suite.runner imported ray'\n"
        "from click.testing import CliRunner\n"
        "from suite.cli import cli\n"
        "args = ['run', '--executor', 'local', '--model', 'synthetic:tiny', '--methods', 'qlora',\n"
        "        '--rank', '4', '--no-progress', '--tracking-uri', sys.argv[1],\n"
        "        '--cache-dir', sys.argv[2]]\n"
        "for s in ('train.steps=1', 'train.seq_len=32', 'train.batch_size=1',\n"
        "          'eval.seq_len=64', 'eval.max_windows=1', 'calib.holdout_windows=1'):\n"
        "    args += ['--set', s]\n"
        "r = CliRunner().invoke(cli, args)\n"
        "assert r.exit_code == 0, r.output\n"
        "assert '1 finished' in r.output, r.output\n"
        "loaded = sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.'))\n"
        "assert not loaded, loaded\n"
    )
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    subprocess.run([sys.executable, "-c", code, store, str(tmp_path / "cache")], check=True)
