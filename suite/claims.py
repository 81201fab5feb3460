"""Claims on run keys: one live process per key, on a sqlite store or an MLflow server.

A process claims a run key by creating the key's run, RUNNING, with tags that name it: its host,
pid and the pid's start time, a claim stamp (``<ns since the epoch>-<random>``) and a heartbeat
(unix seconds, renewed every :data:`HEARTBEAT_S` while it holds the run). A key is *done* when
it has a FINISHED run whose freshness tags (the code version and the model fingerprint) equal the
claimer's; it is *held* while another live process's RUNNING run has it. A RUNNING run is live
while its process is: on this host, while its pid runs with the recorded start time (a reused pid
does not count); on another host, while its heartbeat is younger than :data:`STALE_S`. A run
that is not live is marked FAILED ("interrupted") when met, and its key can be claimed again.

- sqlite: look, reap and create happen under the store's lock file, so claiming is atomic.
- server: each process creates its claim run, waits :data:`SETTLE_S` (longer than any claim
  takes to become visible, which a claimer checks for its own), reads the key's runs again and
  keeps its claim only if it is the oldest live one; a loser deletes its run. A process that
  sees the key done or held before claiming does not claim at all.

The Ray executor claims through the same :class:`Claims` from every run task, on its worker
(:mod:`suite.cluster.work`). The runner releases a run when it ends; :meth:`Claims.interrupt`
marks every run still held FAILED on the way out of a signal.

    >>> order = [stamp_of({Tag.CLAIM: "00000000000000000002-b"}, 0, "x"),
    ...          stamp_of({}, 1, "run-a")]  # a run without a claim tag: its start time
    >>> sorted(order)
    ['00000000000000000002-b', '00000000000001000000-run-a']
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

from suite.contract import FAILED, FINISHED, RUNNING, Tag, run_tags
from suite.interrupt import signals_deferred

T = TypeVar("T")
HEARTBEAT_S = 60.0
STALE_S = 15 * 60.0
SETTLE_S = 3.0


def process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, Linux); "" where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Holder:
    """A process that may hold claims: host, pid, and the pid's start time."""

    host: str
    pid: int
    started: str

    @classmethod
    def me(cls) -> Holder:
        return cls(socket.gethostname(), os.getpid(), process_start(os.getpid()))

    def tags(self) -> dict[str, str]:
        return run_tags(host=self.host, pid=str(self.pid), pid_start=self.started)

    def describe(self) -> str:
        return f"{self.host}:{self.pid}"


def stamp_of(tags: dict[str, str], start_ms: int, run_id: str) -> str:
    """A run's place in the claim order: its claim stamp, else its start time and id."""
    return tags.get(Tag.CLAIM) or f"{start_ms * 1_000_000:020d}-{run_id}"


@dataclass(frozen=True)
class Want:
    """A run key to claim, with what its run is created with."""

    run_key: str
    name: str
    tags: dict[str, str]
    params: dict[str, str]
    fresh: dict[str, str]  # tags a FINISHED run must carry to count as done


@dataclass(frozen=True)
class Outcome:
    want: Want
    run_id: str | None  # the run this process now holds; None where the key is not its
    why: str = ""  # where not: "done" or "held by HOST:PID"
    reaped: int = 0  # interrupted runs of the key marked FAILED on the way


@dataclass
class Claims:
    """Claims of one process on one tracking store (:class:`suite.tracking.Tracker`)."""

    tracker: Any
    force: bool = False  # a FINISHED run does not make a key done
    holder: Holder = field(default_factory=Holder.me)
    settle_s: float = SETTLE_S
    heartbeat_s: float = HEARTBEAT_S
    stale_s: float = STALE_S
    clock: Callable[[], float] = time.time
    held: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _beat: threading.Thread | None = None

    def claim(self, wants: list[Want]) -> list[Outcome]:
        """Claim each wanted key that is neither done nor held; the rest say why not."""
        if self.tracker.is_sqlite:
            out = []
            with self.tracker.lock():
                for want in wants:
                    why, reaped = self._status(want)
                    out.append(Outcome(want, None if why else self._create(want), why, reaped))
        else:
            out = self._claim_by_settling(wants)
        self._start_heartbeat()
        return out

    def release(self, run_id: str) -> None:
        """Stop holding a run (it has been marked FINISHED or FAILED)."""
        with self._lock:
            self.held.discard(run_id)

    def interrupt(self, reason: str) -> int:
        """Mark every run still held and still RUNNING FAILED with ``reason`` (on the way out
        of a signal or an error); return how many."""
        with self._lock:
            held, self.held = sorted(self.held), set()
        failed = 0
        for run_id in held:
            if self.tracker.status(run_id) == RUNNING:  # not one that just FINISHED
                self.tracker.finish(run_id, FAILED, reason)
                failed += 1
        return failed

    def close(self) -> None:
        self._stop.set()

    # --- the two ways to claim --------------------------------------------------------

    def look(self, wants: list[Want]) -> list[tuple[str, int]]:
        """Each wanted key as a claim would find it, without claiming: ("done" | "held by
        HOST:PID" | "" where it is free, how many runs the key has)."""
        out = []
        with self.tracker.lock() if self.tracker.is_sqlite else nullcontext():
            for want in wants:
                runs, _ = self._live_runs(want.run_key)
                out.append((self._why(want, runs), len(runs)))
        return out

    def _status(self, want: Want) -> tuple[str, int]:
        """("done" | "held by HOST:PID" | "" where the key is free, interrupted runs reaped)."""
        runs, reaped = self._live_runs(want.run_key)
        return self._why(want, runs), reaped

    def _why(self, want: Want, runs: list[Any]) -> str:
        if not self.force and any(_done(r, want.fresh) for r in runs):
            return "done"
        holding = [r for r in runs if r.info.status == RUNNING]
        return f"held by {_who(min(holding, key=_order))}" if holding else ""

    def _create(self, want: Want, stamp: str | None = None) -> str:
        """Create the key's run, RUNNING, with the claim tags; return its id (now held)."""
        stamp = stamp or f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
        tags = {
            **want.tags,
            **self.holder.tags(),
            **run_tags(claim=stamp, heartbeat=f"{self.clock():.0f}"),
        }
        with signals_deferred():  # a signal here would leave a RUNNING run no one holds
            run_id = self.tracker.start(want.name, tags, want.params)
            with self._lock:
                self.held.add(run_id)
        return run_id

    def _claim_by_settling(self, wants: list[Want]) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        pending: list[tuple[Want, str, int]] = []
        for want in wants:
            why, reaped = self._status(want)
            if why:
                outcomes[want.run_key] = Outcome(want, None, why, reaped)
                continue
            for _ in range(3):  # a claim slower than half the settling time might be missed
                begun = time.time_ns()
                run_id = self._create(want, f"{begun:020d}-{uuid.uuid4().hex[:12]}")
                if (time.time_ns() - begun) / 1e9 < self.settle_s / 2:
                    break
                self._abandon(run_id)
            pending.append((want, run_id, reaped))
        if pending:
            time.sleep(self.settle_s)
        for want, run_id, reaped in pending:
            runs, more = self._live_runs(want.run_key)
            reaped += more
            if not self.force and any(_done(r, want.fresh) for r in runs):
                self._abandon(run_id)
                outcomes[want.run_key] = Outcome(want, None, "done", reaped)
                continue
            first = min((r for r in runs if r.info.status == RUNNING), key=_order, default=None)
            if first is None or first.info.run_id == run_id:
                outcomes[want.run_key] = Outcome(want, run_id, "", reaped)
            else:
                self._abandon(run_id)
                outcomes[want.run_key] = Outcome(want, None, f"held by {_who(first)}", reaped)
        return [outcomes[w.run_key] for w in wants]

    def _abandon(self, run_id: str) -> None:
        self.release(run_id)
        self.tracker.delete(run_id)

    # --- liveness -----------------------------------------------------------------------

    def _live_runs(self, run_key: str) -> tuple[list[Any], int]:
        """The key's runs, after marking FAILED the RUNNING ones whose process is gone."""
        runs, reaped = [], 0
        for run in self.tracker.runs(run_key):
            if run.info.status == RUNNING and not self.alive(run):
                self.tracker.finish(run.info.run_id, FAILED, "interrupted: its process ended")
                reaped += 1
                continue
            runs.append(run)
        return runs, reaped

    def alive(self, run: Any) -> bool:
        """Whether a RUNNING run's process still runs (see the module docs)."""
        tags = run.data.tags
        if run.info.run_id in self.held:
            return True
        if tags.get(Tag.HOST) == self.holder.host:
            try:
                pid = int(tags.get(Tag.PID, ""))
            except ValueError:
                return False
            started = tags.get(Tag.PID_START, "")
            return pid_alive(pid) and (not started or started == process_start(pid))
        try:
            last = float(tags.get(Tag.HEARTBEAT, ""))
        except ValueError:
            last = (run.info.start_time or 0) / 1000
        return self.clock() - last < self.stale_s

    def _start_heartbeat(self) -> None:
        if self._beat is not None or not self.held:
            return
        self._beat = threading.Thread(target=self._heartbeat, name="qbench-heartbeat", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            with self._lock:
                held = sorted(self.held)
            for run_id in held:
                try:
                    self.tracker.tag(run_id, run_tags(heartbeat=f"{self.clock():.0f}"))
                except Exception:  # a busy store: the next beat tries again
                    continue


def _done(run: Any, fresh: dict[str, str]) -> bool:
    tags = run.data.tags
    return run.info.status == FINISHED and all(tags.get(k) == v for k, v in fresh.items())


def _order(run: Any) -> str:
    return stamp_of(run.data.tags, int(run.info.start_time or 0), run.info.run_id)


def _who(run: Any) -> str:
    tags = run.data.tags
    return f"{tags.get(Tag.HOST, '?')}:{tags.get(Tag.PID, '?')}"


def first_of(items: list[T], index: int, count: int) -> list[T]:
    """``items`` rotated so that worker ``index`` of ``count`` starts at its share (``qbench
    run --workers``: the workers claim different prepare groups first).

        >>> first_of(list("abcde"), 1, 2)
        ['c', 'd', 'e', 'a', 'b']
    """
    if count <= 1 or not items:
        return list(items)
    start = index * len(items) // count
    return items[start:] + items[:start]
