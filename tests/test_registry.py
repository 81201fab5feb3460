"""A method or task declares itself once, in its own module: the registry finds it there."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from suite.registry import methods, tasks

REPO = Path(__file__).resolve().parents[1]

TOY = '''
"""A toy method living outside the repository: round-to-nearest INT-k base, A random, B = 0."""

from dataclasses import dataclass

from methods.base import Method


@dataclass(frozen=True)
class ToyConfig:
    note: str = "toy"


class Toy(Method):
    name = "toy-rtn"
    summary = "round-to-nearest INT-k base, A random, B = 0 (a plugin)"
    Config = ToyConfig
    default_quantizer = "int"
    bits = (4, 8)

    def prepare(self, model, budget, calib, seed):
        from methods.layerwise import prepare_standard

        return prepare_standard(self, model, budget, calib, seed)
'''


def qbench(args, env, cwd):
    code = "from suite.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture
def plugin_env(tmp_path):
    (tmp_path / "toy_method.py").write_text(textwrap.dedent(TOY))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(REPO)])
    env["QBENCH_PLUGINS"] = "toy_method"
    return env


def test_each_method_and_task_is_declared_in_its_own_module():
    found = methods()
    assert set(found) == {"apiq", "cloq", "gptq-lora", "loftq", "lora16", "lqlora", "qlora"}
    for name, cls in found.items():
        assert cls.name == name and cls.summary, name
        assert cls.__module__.split(".")[0] == "methods"
    assert found["cloq"].needs_calibration() and not found["qlora"].needs_calibration()
    assert set(tasks()) == {"commonsense", "gsm8k", "wikitext2"}


def test_method_and_task_modules_import_no_torch():
    code = (
        "import sys\n"
        "from suite.registry import methods, tasks\n"
        "assert len(methods()) >= 7 and len(tasks()) >= 3\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_a_plugin_method_is_listed_validated_and_run(plugin_env, tmp_path):
    listed = qbench(["ls", "methods"], plugin_env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    (line,) = [ln for ln in listed.stdout.splitlines() if ln.startswith("toy-rtn ")]
    assert "bits 4,8" in line and "no data" in line and "(a plugin)" in line

    store = tmp_path / "mlflow.db"
    common = ["run", "--model", "synthetic:tiny", "--methods", "toy-rtn", "--rank", "4"]
    common += ["--tracking-uri", f"sqlite:///{store}", "--cache-dir", str(tmp_path / "cache")]
    common += ["--no-progress", "--data", "sample", "--set", "train.steps=2"]
    common += ["--set", "train.seq_len=64"]
    common += ["--set", "eval.seq_len=128", "--set", "eval.max_windows=2"]
    bad = qbench([*common, "--bits", "2"], plugin_env, tmp_path)
    assert bad.returncode == 2 and "bits 2 is not allowed for toy-rtn; allowed: 4, 8" in bad.stderr
    assert not store.exists()

    ran = qbench([*common, "--bits", "4"], plugin_env, tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    client = MlflowClient(f"sqlite:///{store}")
    exp = client.get_experiment_by_name("qbench")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["method"] == "toy-rtn" and run.data.tags["quantizer"] == "int"
    assert run.data.params["method.toy-rtn.note"] == "toy"
    assert 4.0 < run.data.metrics["quant/effective_bits"] < 5.0  # INT4 codes + group scales
    assert 0 < run.data.metrics["init/weight_err"] < 0.2


def test_a_plugin_that_does_not_import_is_a_one_line_error(plugin_env, tmp_path):
    plugin_env["QBENCH_PLUGINS"] = "no_such_plugin_module"
    res = qbench(["ls", "methods"], plugin_env, tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "no_such_plugin_module" in res.stderr
