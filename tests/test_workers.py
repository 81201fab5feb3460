"""``qbench run --workers N``: one sweep in N processes, each run key made once, the same numbers
as one process, runs tagged, signals forwarded, bad values refused in one line."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_settings import NUMBERS, TINY

ROOT = Path(__file__).resolve().parents[1]


def qbench_run(store: Path, cache: Path, *extra: str, methods="qlora,loftq,lora16", **popen):
    sets = [a for s in TINY for a in ("--set", s)]
    command = [
        sys.executable,
        "-c",
        "from suite.cli import main; main()",
        "run",
        "--model",
        "synthetic:tiny",
        "--methods",
        methods,
        "--bits",
        "4",
        "--rank",
        "4",
        "--data",
        "sample",
        *sets,
        "--tracking-uri",
        f"sqlite:///{store}",
        "--cache-dir",
        str(cache),
        "--experiment",
        "w",
        "--device",
        "cpu",
        "--no-progress",
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def runs(store: Path) -> dict[str, dict]:
    """{run key: {status, tags, metrics}} of every run in the store (a key twice fails)."""
    db = sqlite3.connect(store)
    out: dict[str, dict] = {}
    for rid, status in db.execute("select run_uuid, status from runs"):
        tags = dict(db.execute("select key, value from tags where run_uuid=?", (rid,)))
        metrics = dict(db.execute("select key, value from latest_metrics where run_uuid=?", (rid,)))
        key = tags["run_key"]
        assert key not in out, f"run key {key} made twice"
        out[key] = {"status": status, "tags": tags, "metrics": metrics}
    return out


def test_workers_make_each_run_once_with_one_process_numbers(tmp_path):
    shared = qbench_run(tmp_path / "w.db", tmp_path / "cache-w", "--workers", "2")
    alone = qbench_run(tmp_path / "one.db", tmp_path / "cache-one")
    out, err = shared.communicate(timeout=600)
    assert shared.returncode == 0, err
    assert alone.wait(timeout=600) == 0
    assert "3 finished, 0 skipped, 0 failed" in out and "2 workers" in out
    assert "[w1]" in err or "[w2]" in err
    # each worker's steps say how far they are, in lines the coordinator passes on
    assert re.search(r"^\[w[12]\] progress train qlora-b4-r4-\S+ (\d+)/\1 ", err, re.M), err
    made, reference = runs(tmp_path / "w.db"), runs(tmp_path / "one.db")
    assert set(made) == set(reference) and len(made) == 3
    for key, run in made.items():
        assert run["status"] == "FINISHED"
        assert run["tags"]["workers"] == "2" and "workers" not in reference[key]["tags"]
        assert int(run["tags"]["pid"]) != shared.pid  # made by a worker, not the coordinator
        for name in NUMBERS:
            assert run["metrics"][name] == reference[key]["metrics"][name], (key, name)
    # a second call finds everything done and starts no worker
    again = qbench_run(tmp_path / "w.db", tmp_path / "cache-w", "--workers", "2")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0 and "0 finished, 3 skipped, 0 failed" in out
    assert "[w1]" not in err


def test_sigterm_reaches_the_workers_and_their_runs_are_failed_interrupted(tmp_path):
    store = tmp_path / "w.db"
    proc = qbench_run(store, tmp_path / "cache", "--workers", "2", "--set", "train.steps=400")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if store.exists():
            try:
                if any(r["status"] == "RUNNING" for r in runs(store).values()):
                    break
            except (sqlite3.OperationalError, KeyError):
                pass
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("no run started")
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM" in err.splitlines()[-1]
    made = runs(store)
    assert made and not [r for r in made.values() if r["status"] == "RUNNING"]
    failed = [r for r in made.values() if r["status"] == "FAILED"]
    assert failed and all(r["tags"]["error"] == "interrupted: SIGTERM" for r in failed)


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--workers", "0"], "--workers '0'"),
        (["--workers", "two"], "--workers 'two'"),
        (
            ["--workers", "2", "--executor", "ray", "--tracking-uri", "http://127.0.0.1:9"],
            "--workers '2'",
        ),
    ],
)
def test_a_bad_workers_value_is_one_line_and_exit_2(tmp_path, extra, named):
    proc = qbench_run(tmp_path / "w.db", tmp_path / "cache", *extra)
    out, err = proc.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and named in lines[0], err
    assert not (tmp_path / "w.db").exists()


def test_workers_share_one_prepare_group_task_by_task(tmp_path):
    """One prepare group of three tasks, two workers: one prepare (its lead's), each run made
    once, by either worker (the other loads the prepared model from the cache), with the
    numbers of a lone process."""
    group = ["--tasks", "wikitext2,gsm8k,commonsense", "--set", "train.steps=8"]
    group += ["--set", "train.seq_len=256", "--set", "eval.max_items=2"]
    group += ["--set", "eval.max_new_tokens=4"]
    store, cache = tmp_path / "w.db", tmp_path / "cache-w"
    procs = [
        qbench_run(store, cache, *group, "--worker", f"{i}/2", methods="cloq") for i in range(2)
    ]
    alone = qbench_run(tmp_path / "one.db", tmp_path / "cache-one", *group, methods="cloq")
    for proc in [*procs, alone]:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    made, reference = runs(store), runs(tmp_path / "one.db")
    assert set(made) == set(reference) and len(made) == 3
    built = {r["tags"]["pid"] for r in made.values() if r["tags"]["prepared"] == "built"}
    assert len(built) == 1  # one lead prepared the group
    for run in made.values():  # the lead's runs use its prepare; any other worker's, the cache
        assert (run["tags"]["prepared"] == "built") == (run["tags"]["pid"] in built), run["tags"]
    for key, run in made.items():
        assert run["status"] == "FINISHED"
        for name in (*NUMBERS, "eval/gsm8k/acc", "eval/commonsense/acc_mean"):
            if name in reference[key]["metrics"]:
                assert run["metrics"][name] == reference[key]["metrics"][name], (key, name)
