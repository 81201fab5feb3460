"""One FINISHED run per key when sweeps overlap on one store (sqlite and an MLflow server), and
the liveness rules that decide whether a RUNNING run still has a process behind it."""

import os
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest
from mlflow.tracking import MlflowClient
from tiny_settings import TINY

from suite.claims import Claims, Holder, Want
from suite.contract import FAILED, FINISHED, RUNNING, Tag
from suite.tracking import Tracker


def want(key, **fresh):
    tags = {Tag.RUN_KEY: key, **fresh}
    return Want(key, f"run-{key}", tags, {"p": "1"}, fresh)


def statuses(tracker, key):
    return sorted(r.info.status for r in tracker.runs(key))


def test_a_key_is_claimed_once_and_held_while_its_process_lives(store):
    tracker = Tracker.connect(store, "qbench")
    first, second = Claims(tracker), Claims(tracker)
    (mine,) = first.claim([want("k1", code_version="v1")])
    assert mine.run_id and not mine.why
    (theirs,) = second.claim([want("k1", code_version="v1")])
    assert theirs.run_id is None and theirs.why == f"held by {Holder.me().describe()}"
    tracker.finish(mine.run_id, FINISHED)
    first.release(mine.run_id)
    assert second.claim([want("k1", code_version="v1")])[0].why == "done"
    # a FINISHED run made by other code is stale: the key is free again
    (again,) = second.claim([want("k1", code_version="v2")])
    assert again.run_id is not None
    assert Claims(tracker, force=True).claim([want("k2")])[0].run_id is not None
    first.close()
    second.close()


def test_runs_of_dead_or_reused_pids_and_of_silent_hosts_are_reaped(store):
    tracker = Tracker.connect(store, "qbench")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    holders = {
        "dead": Holder(host, gone.pid, ""),
        "reused": Holder(host, os.getpid(), "not-this-process-start"),
        "silent": Holder("another-host", 1, "1"),
        "remote": Holder("another-host", 1, "1"),
    }
    now = time.time()
    for key, holder in holders.items():
        clock = (lambda: now - 3600) if key == "silent" else (lambda: now)
        Claims(tracker, holder=holder, clock=clock).claim([want(key)])
    me = Claims(tracker)
    outcomes = {o.want.run_key: o for o in me.claim([want(k) for k in holders])}
    for key in ("dead", "reused", "silent"):
        assert outcomes[key].reaped == 1 and outcomes[key].run_id, key
        failed = [r for r in tracker.runs(key) if r.info.status == FAILED]
        assert failed[0].data.tags[Tag.ERROR] == "interrupted: its process ended"
    assert outcomes["remote"].why == "held by another-host:1"  # its heartbeat is fresh
    assert statuses(tracker, "remote") == [RUNNING]
    me.close()


def test_the_heartbeat_renews_while_a_run_is_held(store):
    tracker = Tracker.connect(store, "qbench")
    ticks = iter(range(1000, 2000))
    claims = Claims(tracker, heartbeat_s=0.05, clock=lambda: float(next(ticks)))
    (held,) = claims.claim([want("beat")])
    deadline = time.time() + 30
    while time.time() < deadline:
        beat = int(tracker.client.get_run(held.run_id).data.tags[Tag.HEARTBEAT])
        if beat > 1001:
            break
        time.sleep(0.1)
    assert beat > 1001
    assert claims.interrupt("interrupted: SIGTERM") == 1
    run = tracker.client.get_run(held.run_id)
    assert run.info.status == FAILED and run.data.tags[Tag.ERROR] == "interrupted: SIGTERM"
    claims.close()


# --- two qbench sweeps at once ------------------------------------------------------------


def qbench(uri, experiment, cache, methods, bits):
    cmd = [
        sys.executable,
        "-m",
        "suite.cli",
        "run",
        "--data",
        "sample",
        "--model",
        "synthetic:tiny",
        "--methods",
        methods,
        "--bits",
        bits,
        "--rank",
        "4",
        "--tracking-uri",
        uri,
        "--experiment",
        experiment,
        "--cache-dir",
        str(cache),
        "--no-progress",
    ]
    for s in TINY:
        cmd += ["--set", s]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def two_sweeps_at_once(uri, experiment, cache):
    """qlora,lora16 at 4 bits and qlora,lora16 at 4,3 bits: 3 keys, 2 of them shared."""
    procs = [
        qbench(uri, experiment, cache, "qlora,lora16", "4"),
        qbench(uri, experiment, cache, "qlora,lora16", "4,3"),
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and "Traceback" not in err, err[-3000:]
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    finished = Counter(r.data.tags[Tag.RUN_KEY] for r in runs if r.info.status == FINISHED)
    assert len(finished) == 3 and set(finished.values()) == {1}, finished
    assert all(r.info.status == FINISHED for r in runs)  # losers deleted their claims
    said = outs[0][1] + outs[1][1]
    assert said.count("skip ") == 2  # each shared key: finished already, held, or just finished


@pytest.mark.parametrize("kind", ["sqlite", "server"])
def test_two_sweeps_on_one_store_finish_each_key_once(kind, tmp_path, request):
    uri = (
        request.getfixturevalue("server") if kind == "server" else f"sqlite:///{tmp_path / 's.db'}"
    )
    two_sweeps_at_once(uri, f"overlap-{tmp_path.name}", tmp_path / "cache")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "server"])
def test_two_sweeps_on_one_store_twenty_times(kind, tmp_path, request):
    for i in range(20):
        uri = (
            request.getfixturevalue("server")
            if kind == "server"
            else f"sqlite:///{tmp_path / f's{i}.db'}"
        )
        two_sweeps_at_once(uri, f"overlap-{i}-{tmp_path.name}", tmp_path / "cache")


def test_a_signal_while_a_run_is_created_leaves_it_held_and_then_failed(store, monkeypatch):
    """SIGINT that lands after the run exists in the store but before the sweep holds it: the
    run is still held, so the way out marks it FAILED (no RUNNING run left behind)."""
    import signal

    from suite.interrupt import Interrupted, signals_raise

    tracker = Tracker.connect(store, "qbench")
    claims = Claims(tracker)
    start = tracker.start

    def start_then_signal(*args, **kwargs):
        run_id = start(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return run_id

    monkeypatch.setattr(tracker, "start", start_then_signal)
    with pytest.raises(Interrupted), signals_raise():
        claims.claim([want("k9", code_version="v1")])
    assert claims.interrupt("interrupted: SIGINT") == 1
    assert statuses(tracker, "k9") == [FAILED]
    claims.close()
