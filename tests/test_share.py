"""suite.share's rules, against a stand-in store: a prepare that fails fails its group once;
a group whose lead is preparing is waited for, then helped from the cache; a run that failed
during this sweep is not taken again."""

from __future__ import annotations

from types import SimpleNamespace

from suite import share
from suite.claims import Outcome, Want


class Store:
    """Run keys with their runs' statuses, claimed as suite.claims.Claims would."""

    def __init__(self, **runs: list[str]) -> None:
        self.runs = {k: list(v) for k, v in runs.items()}

    def look(self, wants):
        out = []
        for w in wants:
            runs = self.runs.setdefault(w.run_key, [])
            why = "done" if "FINISHED" in runs else "held by h:1" if "RUNNING" in runs else ""
            out.append((why, len(runs)))
        return out

    def claim(self, wants):
        (want,) = wants
        ((why, count),) = self.look([want])
        if why:
            return [Outcome(want, None, why)]
        self.runs[want.run_key].append("RUNNING")
        return [Outcome(want, f"{want.run_key}#{count}")]

    def end(self, run_id: str, status: str) -> None:
        key = run_id.split("#")[0]
        self.runs[key][self.runs[key].index("RUNNING")] = status


def specs(*tasks):
    return [SimpleNamespace(task=t, model="m") for t in tasks]


def make_share(tmp_path, store, monkeypatch, prepare):
    made, failed = [], []
    steps = share.Steps(
        want=lambda spec: Want(spec.task, spec.task, {}, {}, {}),
        fail=lambda run_id, spec, err: (failed.append(spec.task), store.end(run_id, "FAILED")),
        make=lambda run_id, spec, *_: (made.append(spec.task), store.end(run_id, "FINISHED")),
    )
    settings = SimpleNamespace(cache=tmp_path, worker=0, workers=2, use_cache=True)
    ctx = SimpleNamespace(settings=settings, calibrations={})
    monkeypatch.setattr(share, "prepare_key", lambda ctx, spec: "k")
    monkeypatch.setattr(share, "load_base", lambda ctx, name: ("base", "tok"))
    monkeypatch.setattr(share, "prepare_model", prepare)
    return share.Share(ctx, store, steps), made, failed


def test_a_failed_prepare_fails_each_run_of_its_group_once(tmp_path, monkeypatch):
    calls = []

    def prepare(ctx, base, tok, spec):
        calls.append(spec.task)
        raise RuntimeError("no")

    store = Store()
    worker, made, failed = make_share(tmp_path, store, monkeypatch, prepare)
    worker.add("m", specs("a", "b", "c"))
    worker.run()
    assert calls == ["a"] and made == [] and sorted(failed) == ["a", "b", "c"]
    assert store.runs == {"a": ["FAILED"], "b": ["FAILED"], "c": ["FAILED"]}


def test_a_group_being_prepared_is_waited_for_then_helped_from_the_cache(tmp_path, monkeypatch):
    store = Store(a=["RUNNING"])  # another worker leads the group: it holds "a", no cache yet
    prepared = []

    def prepare(ctx, base, tok, spec):
        assert (tmp_path / "prepared" / "k").is_dir()  # loaded, not built: the lead's
        prepared.append(spec.task)
        return SimpleNamespace(prepared=SimpleNamespace(model={"w": 1}))

    sleeps = []

    def sleep(seconds):  # meanwhile the lead writes the cache entry and makes "b"
        sleeps.append(seconds)
        (tmp_path / "prepared" / "k").mkdir(parents=True)
        store.runs["b"] = ["RUNNING"]

    monkeypatch.setattr(share.time, "sleep", sleep)
    worker, made, failed = make_share(tmp_path, store, monkeypatch, prepare)
    worker.add("m", specs("a", "b", "c"))
    worker.run()
    assert sleeps == [share.POLL_S]  # waited once, not leading a group another leads
    assert made == ["c"] and prepared == ["c"] and failed == []
    assert store.runs == {"a": ["RUNNING"], "b": ["RUNNING"], "c": ["FINISHED"]}


def test_a_run_failed_during_the_sweep_is_not_taken_again(tmp_path, monkeypatch):
    store = Store(b=["FAILED"])  # failed in an earlier sweep: free again for this one
    worker, made, failed = make_share(
        tmp_path,
        store,
        monkeypatch,
        lambda *a: SimpleNamespace(prepared=SimpleNamespace(model={})),
    )
    worker.add("m", specs("a", "b"))
    store.runs["a"] = ["FAILED"]  # made and failed by another worker after this one started
    worker.run()
    assert made == ["b"] and store.runs == {"a": ["FAILED"], "b": ["FAILED", "FINISHED"]}
