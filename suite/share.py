"""Prepare groups shared task by task between the workers of ``qbench run --workers N``.

A prepare group is every run of one model, method, budget and seed (one per task): they share
one prepared model. Alone, a process claims a whole group and runs its tasks one after the other.
Among workers that share the prepared-model cache, the group is split:

- The worker that claims a group's first open run leads it: it prepares the model (which the
  prepare step writes into the cache) and makes that run.
- Each other run of the group is claimed on its own, by whichever worker is free for it first:
  the lead, going on with the prepared model it holds, or another worker, which loads the
  prepared model from the cache. After one slow prepare, its tasks run side by side.
- A worker waits for a group whose lead is still preparing only once nothing else is left to
  do (polling every :data:`POLL_S` seconds); a group with free runs, no cache entry and no
  live run is led again (its lead died).
- A run made and failed during this sweep is not claimed again by it: a key counts as free
  here only while it has no more runs than when this worker started (the next ``qbench run``
  picks a failed run up, as always).

A prepared model that cannot be cached stays with its lead, which then makes the group's runs
itself. Numbers do not depend on who made a run: the cache gives the prepared model back exactly.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from suite import prepared_cache
from suite.claims import Claims, Want, first_of
from suite.context import RunContext
from suite.prepare import load_base, prepare_key, prepare_model
from suite.spec import RunSpec

POLL_S = 15.0


@dataclass(frozen=True)
class Steps:
    """The runner's steps a shared group uses (:mod:`suite.runner`, bound to its context,
    claims and summary): a spec's claim, recording a held run's failure, and making a held run
    (train, evaluate, record, release)."""

    want: Callable[[RunSpec], Want]
    fail: Callable[[str, RunSpec, Exception], None]
    make: Callable[[str, RunSpec, Any, Any, Any], None]


def shares_groups(ctx: RunContext) -> bool:
    """Whether this process splits prepare groups with other workers (it is one of several,
    and the prepared-model cache is on)."""
    return ctx.settings.workers > 1 and ctx.settings.use_cache


@dataclass
class Share:
    """One worker's part of a sweep whose prepare groups are shared (see the module docs)."""

    ctx: RunContext
    claims: Claims
    steps: Steps
    groups: dict[str, list[tuple[str, list[RunSpec]]]] = field(default_factory=dict)
    bases: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    wants: dict[int, Want] = field(default_factory=dict)
    runs_at_start: dict[str, int] = field(default_factory=dict)
    poll_s: float = POLL_S

    def add(self, model_name: str, specs: list[RunSpec]) -> None:
        """The model's runs to make, grouped by prepare key, in this worker's order."""
        by_prepare: dict[str, list[RunSpec]] = {}
        for spec in specs:
            by_prepare.setdefault(prepare_key(self.ctx, spec), []).append(spec)
        worker, workers = self.ctx.settings.worker, self.ctx.settings.workers
        self.groups[model_name] = first_of(list(by_prepare.items()), worker, workers)
        for _, group in self.groups[model_name]:
            for spec, (_, count) in zip(group, self.claims.look(self._wants(group)), strict=True):
                self.runs_at_start[self._want(spec).run_key] = count

    def run(self) -> None:
        """Make runs until no group has a free run; wait for leads only when idle."""
        while True:
            made, waiting = False, False
            for model_name in list(self.groups):
                m, w = self._visit(model_name)
                made, waiting = made or m, waiting or w
                self.ctx.calibrations.clear()
            if made:
                continue
            if not waiting:
                return
            time.sleep(self.poll_s)

    def _visit(self, model_name: str) -> tuple[bool, bool]:
        """One pass over a model's groups: (a run was made or failed, a group is waited for)."""
        made = waiting = False
        for key, group in self.groups[model_name]:
            open_ = self._open(group)
            if not any(why == "" for _, why in open_):
                continue  # made, or being made by others
            if prepared_cache.entry(self.ctx.settings.cache, key).is_dir():
                made = self._work(model_name, group, None) or made
            elif open_[0][1] == "":  # nobody leads it: lead it, through its first open run
                led = self._work(model_name, group, open_[0][0])
                made, waiting = made or led, waiting or not led  # lost: another process leads
            else:
                waiting = True  # its lead is preparing it
        return made, waiting

    def _work(self, model_name: str, group: list[RunSpec], lead: RunSpec | None) -> bool:
        """Make runs of the group, claimed one at a time; False where none could be claimed.
        ``lead``: the run to lead the group with (no prepared model in the cache yet); a
        process that loses it to another leaves the group to that one."""
        claimed = self._claim(lead) if lead is not None else self._claim_next(group)
        if claimed is None:
            return False
        base, tokenizer = self._base(model_name)
        spec, run_id = claimed
        try:
            prep = prepare_model(self.ctx, base, tokenizer, spec)
        except Exception as err:  # the group's free runs fail with the same reason
            self.steps.fail(run_id, spec, err)
            for other, why in self._open(group):
                held = self._claim(other) if why == "" else None
                if held is not None:
                    self.steps.fail(held[1], other, err)
            return True
        while claimed is not None:
            spec, run_id = claimed
            last = not any(why == "" for _, why in self._open(group))
            model = prep.prepared.model if last else copy.deepcopy(prep.prepared.model)
            self.steps.make(run_id, spec, model, tokenizer, prep)
            del model
            claimed = None if last else self._claim_next(group)
        return True

    def _claim(self, spec: RunSpec) -> tuple[RunSpec, str] | None:
        """Claim one run, quietly; (spec, run id) or None where another process has it."""
        (outcome,) = self.claims.claim([self._want(spec)])
        return None if outcome.run_id is None else (spec, outcome.run_id)

    def _claim_next(self, group: list[RunSpec]) -> tuple[RunSpec, str] | None:
        """Claim the group's first free run (the next where another process was first)."""
        for spec, why in self._open(group):
            claimed = self._claim(spec) if why == "" else None
            if claimed is not None:
                return claimed
        return None

    def _open(self, group: list[RunSpec]) -> list[tuple[RunSpec, str]]:
        """The group's runs still to make, in order, each with "" (free) or "held by …": not
        done, and not made and failed during this sweep (a key with more runs than when this
        worker started, none of them live)."""
        out = []
        for spec, (why, count) in zip(group, self.claims.look(self._wants(group)), strict=True):
            tried = why == "" and count > self.runs_at_start[self._want(spec).run_key]
            if why != "done" and not tried:
                out.append((spec, why))
        return out

    def _want(self, spec: RunSpec) -> Want:
        if id(spec) not in self.wants:
            self.wants[id(spec)] = self.steps.want(spec)
        return self.wants[id(spec)]

    def _wants(self, group: list[RunSpec]) -> list[Want]:
        return [self._want(s) for s in group]

    def _base(self, model_name: str) -> tuple[Any, Any]:
        if model_name not in self.bases:
            self.bases[model_name] = load_base(self.ctx, model_name)
        return self.bases[model_name]
