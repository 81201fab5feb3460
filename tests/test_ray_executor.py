"""``qbench run --executor ray`` on a local Ray cluster (2 CPUs) against an MLflow server on
127.0.0.1: the same metrics as the local executor, to the last digit; a killed worker's run is
FAILED and finished by a retry or a rerun, never twice; two drivers on one sweep finish each key
once; Ctrl-C on the driver fails its started runs; a cache folder the nodes do not see is one
line and exit 2. The retry within one command and a killed prepare task are ``slow``.

The cluster is a Python process that called ``ray.init(num_cpus=2)``; drivers are ``qbench``
processes that join it with ``--ray-address``, each with its own workers. Workers run with one
torch thread (Ray's default for a one-CPU task), so the local reference runs with one too.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("ray")

from mlflow.tracking import MlflowClient  # noqa: E402

from suite.contract import FAILED, FINISHED, RUNNING, Tag  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "train.steps=2",
    "train.seq_len=256",  # gsm8k's training examples need more than 64 tokens
    "train.batch_size=2",
    "eval.seq_len=128",
    "eval.max_windows=2",
    "eval.max_items=2",
    "eval.max_new_tokens=8",
    "calib.n_windows=4",
    "calib.seq_len=64",
    "calib.holdout_windows=2",
]
# qlora and cloq (calibrated) x wikitext2 and gsm8k: 4 runs, 2 prepare keys of 2 runs each
SWEEP = ["--methods", "qlora,cloq", "--bits", "4", "--rank", "4", "--tasks", "wikitext2,gsm8k"]
TIMING = ("wall_s", "peak_mem_bytes", "tokens_per_s")  # measurements of the machine, not results
HEAD = (
    "import logging, sys, ray\n"
    "ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, logging_level=logging.ERROR)\n"
    "print(ray.get_runtime_context().gcs_address, flush=True)\n"
    "sys.stdin.read()\n"
    "ray.shutdown()\n"
)


@pytest.fixture(scope="module")
def ray_env(tmp_path_factory):
    """The environment of the cluster and the drivers: this checkout importable, one torch
    thread, Ray's token authentication with a token of the test's own, no usage report."""
    token = tmp_path_factory.mktemp("ray") / "token"
    token.write_text(secrets.token_hex(32))
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
    }


def start_cluster(env, prefix=()):
    """(process, address) of a Ray head with 2 CPUs; it stops when its stdin closes."""
    cmd = [*prefix, sys.executable, "-c", HEAD]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    address = proc.stdout.readline().strip()
    if not address:
        proc.kill()
        pytest.fail("the Ray head did not start")
    return proc, address


def stop_cluster(proc):
    proc.stdin.close()
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def cluster(ray_env):
    proc, address = start_cluster(ray_env)
    yield address
    stop_cluster(proc)


def qbench_cmd(uri, experiment, cache, *extra, sweep=SWEEP, sets=TINY):
    cmd = [sys.executable, "-m", "suite.cli", "run", "--model", "synthetic:tiny", *sweep]
    cmd += ["--tracking-uri", uri, "--experiment", experiment, "--cache-dir", str(cache)]
    # offline sample data and CPU runs on any machine (a later --device in extra wins)
    cmd += ["--data", "sample", "--device", "cpu", "--no-progress", *extra]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def run(cmd, env, timeout=900):
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def popen(cmd, env):
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def runs_of(uri, experiment):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000) if exp else []


def results(uri, experiment):
    """run key -> (metrics without timings, train/loss by step, params, identity tags)."""
    client = MlflowClient(uri)
    out = {}
    for r in runs_of(uri, experiment):
        assert r.info.status == FINISHED, (r.info.run_name, r.info.status)
        key = r.data.tags[Tag.RUN_KEY]
        assert key not in out, f"two runs of {key}"
        metrics = {k: v for k, v in r.data.metrics.items() if not k.endswith(TIMING)}
        loss = [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, "train/loss")]
        tags = {k: r.data.tags.get(k) for k in (Tag.METHOD, Tag.TASK, Tag.CODE_VERSION)}
        out[key] = (metrics, loss, r.data.params, tags)
    return out


def test_a_ray_sweep_records_what_the_local_executor_records(server, cluster, ray_env, tmp_path):
    local = qbench_cmd(server, "local", tmp_path / "cache-local")
    code, _, err = run(local, ray_env)
    assert code == 0, err[-3000:]
    began = time.time()
    on_ray = qbench_cmd(server, "ray", tmp_path / "cache", "--executor", "ray")
    code, out, err = run([*on_ray, "--ray-address", cluster], ray_env)
    assert code == 0, err[-3000:]
    assert out.strip().splitlines()[-1].startswith("4 finished, 0 skipped, 0 failed"), out
    print(f"ray sweep: {time.time() - began:.0f} s")
    expected, got = results(server, "local"), results(server, "ray")
    assert len(expected) == 4 and set(got) == set(expected)
    for key, (metrics, loss, params, tags) in expected.items():
        assert got[key][0] == metrics, key  # every metric, to the last digit
        assert got[key][1] == loss and len(loss) == 2, key
        assert got[key][2] == params and got[key][3] == tags, key
    for r in runs_of(server, "ray"):  # claimed by a run task: its attempt is tagged
        assert r.data.tags[Tag.ATTEMPT], r.info.run_name
    assert len(list((tmp_path / "cache" / "prepared").iterdir())) == 2  # one per prepare key
    # the same command again: nothing is missing, so nothing runs
    code, out, err = run([*on_ray, "--ray-address", cluster], ray_env)
    assert code == 0, err[-3000:]
    assert "4 run(s) in the sweep: 0 to run, 4 finished already" in err
    assert len(runs_of(server, "ray")) == 4


def wait_for(predicate, proc, what, timeout=600):
    deadline = time.time() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if proc.poll() is not None or time.time() > deadline:
            _, err = proc.communicate(timeout=60)
            pytest.fail(f"{what} never happened: {err[-3000:]}")
        time.sleep(0.2)


def training(uri, experiment):
    """The RUNNING run that has recorded its prepare step (so it trains now), if any."""
    for r in runs_of(uri, experiment):
        if r.info.status == RUNNING and "init/weight_err" in r.data.metrics:
            return r
    return None


LONG = ["train.steps=400", "train.seq_len=64", "train.batch_size=2", "eval.seq_len=128"]
LONG += ["eval.max_windows=2", "calib.holdout_windows=2"]
ONE = ["--methods", "qlora", "--bits", "4", "--rank", "4"]


@pytest.mark.parametrize("retries", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_a_killed_worker_fails_its_run_and_a_retry_or_rerun_finishes_it(
    retries, server, cluster, ray_env, tmp_path
):
    experiment = f"killed-{retries}"
    cmd = qbench_cmd(server, experiment, tmp_path / "cache", "--executor", "ray", sweep=ONE)
    cmd += ["--ray-address", cluster, "--retries", str(retries)]
    cmd += [a for s in LONG for a in ("--set", s)]
    proc = popen(cmd, ray_env)
    victim = wait_for(lambda: training(server, experiment), proc, "training")
    os.kill(int(victim.data.tags[Tag.PID]), signal.SIGKILL)  # the worker, mid-run
    out, err = proc.communicate(timeout=900)
    name = "qlora-b4-r4-wikitext2-s0"
    dead = MlflowClient(server).get_run(victim.info.run_id)
    assert dead.info.status == FAILED
    assert dead.data.tags[Tag.ERROR] == "interrupted: its worker died (WorkerCrashedError)"
    if retries == 0:
        assert proc.returncode == 1, err[-3000:]
        said = " ".join(err.split())  # rich wraps long lines
        assert f"FAILED {name}: its worker died (WorkerCrashedError), on each of 1" in said
        code, out, err = run(cmd, ray_env)  # the rerun finishes it
    else:
        code = proc.returncode
        said = " ".join(err.split())
        assert f"retry {name}: its worker died (WorkerCrashedError); attempt 2 of 2" in said
    assert code == 0, err[-3000:]
    assert out.strip().splitlines()[-1].startswith("1 finished, 0 skipped, 0 failed"), out
    statuses = sorted(r.info.status for r in runs_of(server, experiment))
    assert statuses == [FAILED, FINISHED]


def test_two_drivers_on_one_sweep_finish_each_key_once(server, cluster, ray_env, tmp_path):
    cmd = qbench_cmd(server, "two-drivers", tmp_path / "cache", "--executor", "ray")
    cmd += ["--ray-address", cluster]
    procs = [popen(cmd, ray_env) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and "Traceback" not in err, err[-3000:]
    runs = runs_of(server, "two-drivers")
    finished = Counter(r.data.tags[Tag.RUN_KEY] for r in runs if r.info.status == FINISHED)
    assert len(finished) == 4 and set(finished.values()) == {1}, finished
    assert all(r.info.status == FINISHED for r in runs)  # the losers deleted their claims
    counts = [Counter(dict(_summary(out))) for out, _ in outs]
    assert counts[0]["finished"] + counts[1]["finished"] == 4, outs
    assert counts[0]["skipped"] + counts[1]["skipped"] == 4, outs


def _summary(out):
    """[("finished", n), ("skipped", n), ("failed", n)] from the last line of qbench run."""
    words = out.strip().splitlines()[-1].replace(",", "").split()
    return [(words[i + 1], int(words[i])) for i in (0, 2, 4)]


def test_ctrl_c_on_the_driver_fails_its_started_run_and_a_rerun_completes_it(
    server, cluster, ray_env, tmp_path
):
    cmd = qbench_cmd(server, "ctrl-c", tmp_path / "cache", "--executor", "ray", sweep=ONE)
    cmd += ["--ray-address", cluster, *[a for s in LONG for a in ("--set", s)]]
    proc = popen(cmd, ray_env)
    victim = wait_for(lambda: training(server, "ctrl-c"), proc, "training")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("qbench: interrupted by SIGINT: 1 run(s) marked FAILED"), last
    stopped = MlflowClient(server).get_run(victim.info.run_id)
    assert stopped.info.status == FAILED
    assert stopped.data.tags[Tag.ERROR] == "interrupted: SIGINT"
    assert Tag.REASON not in stopped.data.tags  # the cancelled task marked it, not the driver
    code, _, err = run(cmd, ray_env)
    assert code == 0, err[-3000:]
    assert sorted(r.info.status for r in runs_of(server, "ctrl-c")) == [FAILED, FINISHED]


def one_line_error(code, out, err):
    lines = (out + err).strip().splitlines()
    assert code == 2 and len(lines) == 1, out + err
    return lines[0]


def test_a_cluster_without_gpus_refuses_device_cuda(server, cluster, ray_env, tmp_path):
    cmd = qbench_cmd(server, "no-gpu", tmp_path / "cache", "--executor", "ray", sweep=ONE)
    code, out, err = run([*cmd, "--ray-address", cluster, "--device", "cuda"], ray_env)
    line = one_line_error(code, out, err)
    assert "device 'cuda' is not available: the Ray cluster has no GPU" in line, line
    assert "allowed: auto, cpu" in line
    assert MlflowClient(server).get_experiment_by_name("no-gpu") is None


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare(1)")
def test_a_cache_folder_the_nodes_do_not_see_is_refused(server, ray_env, tmp_path):
    """The cluster runs in a mount namespace of its own where the cache folder is another
    (empty) file system: the driver's marker file is not there for the workers."""
    cache = tmp_path / "cache"
    cache.mkdir()
    private = ["unshare", "-m", "--propagation", "private", "sh", "-c"]
    probe = subprocess.run([*private, f"mount -t tmpfs none {cache}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a private mount namespace here")
    mount = f'mount -t tmpfs none {cache} && exec "$0" "$@"'
    proc, address = start_cluster(ray_env, prefix=[*private, mount])
    try:
        cmd = qbench_cmd(server, "not-shared", cache, "--executor", "ray", sweep=ONE)
        code, out, err = run([*cmd, "--ray-address", address], ray_env)
    finally:
        stop_cluster(proc)
    line = one_line_error(code, out, err)
    assert f"cache folder {cache} is not shared with every Ray node: node " in line, line
    assert "does not see the file" in line and "allowed: a folder every node sees" in line
    assert list(cache.iterdir()) == []  # the marker is gone, nothing else was written
    assert MlflowClient(server).get_experiment_by_name("not-shared") is None


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--ray-address", "127.0.0.1:{port}"], "Ray cluster at --ray-address '127.0.0.1:{port}' "),
        (["--ray-address", "head"], "--ray-address 'head' is not allowed"),
        (["--device", "cuda:1"], "device 'cuda:1' is not allowed with --executor ray"),
    ],
)
def test_bad_ray_flags_are_one_line_before_anything_is_written(tmp_path, flags, fragment):
    from click.testing import CliRunner

    from suite.cli import cli

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    flags = [f.format(port=port) for f in flags]
    args = ["run", "--model", "synthetic:tiny", "--executor", "ray", "--no-progress"]
    args += ["--tracking-uri", "http://127.0.0.1:9", "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, args + flags)
    assert result.exit_code == 2 and result.stdout == "", result.output
    (line,) = result.stderr.splitlines()
    assert fragment.format(port=port) in line and "allowed" in line, line
    if "{port}" in fragment:
        assert "is unreachable (Connection refused)" in line
    assert list(tmp_path.iterdir()) == []


def task_process(title):
    """The pid of a Ray worker that runs a task of this name (Ray sets its process title)."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(title):
                return int(proc.name)
        except OSError:
            continue
    return None


@pytest.mark.slow
def test_a_killed_prepare_task_is_resubmitted_with_its_runs(server, cluster, ray_env, tmp_path):
    """ApiQ's block-wise training makes a prepare step long enough to kill its worker in it; no
    run had started, so none is FAILED, and each of the two runs that share it finishes once."""
    sweep = ["--methods", "apiq", "--bits", "4", "--rank", "4", "--tasks", "wikitext2,gsm8k"]
    cmd = qbench_cmd(server, "prep-killed", tmp_path / "cache", "--executor", "ray", sweep=sweep)
    cmd += ["--ray-address", cluster, "--retries", "1", "--set", "method.apiq.epochs=80"]
    proc = popen(cmd, ray_env)
    pid = wait_for(lambda: task_process(b"ray::prepare_task"), proc, "the prepare task")
    time.sleep(1.0)
    assert task_process(b"ray::prepare_task") == pid
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    said = " ".join(err.split())
    assert "retry prepare of apiq-b4-r4-wikitext2-s0 and its runs: its worker died" in said
    assert out.strip().splitlines()[-1].startswith("2 finished, 0 skipped, 0 failed"), out
    runs = runs_of(server, "prep-killed")
    assert sorted(r.info.status for r in runs) == [FINISHED, FINISHED]
    assert len({r.data.tags[Tag.RUN_KEY] for r in runs}) == 2
