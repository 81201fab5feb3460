"""Sweeps: CLI flags + optional YAML + ``--set`` overrides -> validated RunSpecs.

Precedence, lowest first: the dataclass defaults, the profile (suite/profiles/<name>.yaml, with
its per-task sections), the YAML sweep file, the CLI flags, then ``--set section.field=value``
(sections: budget, calib, train, eval, and ``method.<name>.<field>`` for a method's own knobs).
Everything is checked here, once, before any model is loaded: names, bits per method, ranks,
keys, every dataclass field. :func:`build_sweep` expands the sweep into its RunSpecs once and
keeps them on the Sweep (``sweep.specs``); nothing downstream expands it again.

    >>> sweep = build_sweep(methods="qlora,lora16", bits="2,4", models="synthetic:tiny")
    >>> [(s.method, s.budget.bits) for s in sweep.specs]
    [('qlora', 2), ('qlora', 4), ('lora16', 16)]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from suite import models as model_names
from suite import registry
from suite.registry import lookup, unknown
from suite.spec import (
    SECTIONS,
    UNQUANTIZED_BITS,
    Budget,
    RunSpec,
    SpecError,
    coerce,
    field_names,
    run_key,
)

PROFILE_DIR = Path(__file__).parent / "profiles"
SWEEP_KEYS = (
    "models",
    "methods",
    "bits",
    "ranks",
    "tasks",
    "seeds",
    "profile",
    "data",
    "experiment",
    "set",
    "quantizer",
    "group_size",
)


def profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str) -> dict[str, Any]:
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        raise SpecError(unknown("profile", name, profiles()))
    return yaml.safe_load(path.read_text()) or {}


@dataclass(frozen=True)
class Sweep:
    models: tuple[str, ...]
    methods: tuple[str, ...]
    bits: tuple[float, ...]
    ranks: tuple[int, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    profile: str
    data: str
    experiment: str
    sets: tuple[tuple[str, Any], ...]
    specs: tuple[RunSpec, ...] = ()  # the expanded, validated runs (filled by build_sweep)


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for item in value for v in _list(str(item))]
    return [str(value)]


def _number(text: str, kind: str, cast) -> Any:
    try:
        value = float(text)
        return int(value) if cast is int or value.is_integer() else value
    except ValueError:
        raise SpecError(f"{kind} '{text}' is not a number") from None


def parse_sets(items: list[str] | dict[str, Any]) -> list[tuple[str, Any]]:
    if isinstance(items, dict):
        return list(items.items())
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SpecError(f"--set '{item}' is not key=value; e.g. --set train.lr=1e-4")
        out.append((key.strip(), value))
    return out


def build_sweep(
    models: Any = None,
    methods: Any = None,
    bits: Any = None,
    ranks: Any = None,
    tasks: Any = None,
    seeds: Any = None,
    profile: str | None = None,
    data: str | None = None,
    experiment: str | None = None,
    sets: list[str] | None = None,
    config: str | Path | None = None,
    quantizer: str | None = None,
    group_size: int | None = None,
) -> Sweep:
    """Merge a YAML sweep file (if any) with flags (which win) and validate every name."""
    file: dict[str, Any] = {}
    if config:
        path = Path(config)
        if not path.is_file():
            raise SpecError(f"sweep config '{config}' not found; allowed: a YAML file path")
        try:
            file = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise SpecError(f"sweep config '{config}' is not valid YAML ({err})") from None
        bad = sorted(set(file) - set(SWEEP_KEYS))
        if bad:
            raise SpecError(f"unknown key '{bad[0]}' in {config}; allowed: {', '.join(SWEEP_KEYS)}")

    def pick(flag, key, default):
        if flag not in (None, (), []):
            return flag
        return file.get(key, default)

    all_sets = parse_sets(file.get("set", {})) + parse_sets(sets or [])
    if pick(quantizer, "quantizer", None):
        all_sets.append(("budget.quantizer", pick(quantizer, "quantizer", None)))
    if pick(group_size, "group_size", None):
        all_sets.append(("budget.group_size", pick(group_size, "group_size", None)))
    sweep = Sweep(
        models=tuple(_list(pick(models, "models", "smollm2-135m"))),
        methods=tuple(_list(pick(methods, "methods", "qlora,lora16"))),
        bits=tuple(_number(b, "bits", float) for b in _list(pick(bits, "bits", "4"))),
        ranks=tuple(_number(r, "rank", int) for r in _list(pick(ranks, "ranks", "64"))),
        tasks=tuple(_list(pick(tasks, "tasks", "wikitext2"))),
        seeds=tuple(_number(s, "seed", int) for s in _list(pick(seeds, "seeds", "0"))),
        profile=str(pick(profile, "profile", "quick")),
        data=str(pick(data, "data", "") or ""),
        experiment=str(pick(experiment, "experiment", "qbench")),
        sets=tuple(all_sets),
    )
    _check_axes(sweep)
    return dataclasses.replace(sweep, specs=tuple(_expand(sweep)))


def _check_axes(sweep: Sweep) -> None:
    """The names and numbers of the sweep's axes, in the order a user reads the flags."""
    for name in sweep.models:
        model_names.resolve(name)
    known_tasks = registry.tasks()
    for name in sweep.tasks:
        lookup(known_tasks, "task", name)
    known_methods = registry.methods()
    for name in sweep.methods:
        method_cls = lookup(known_methods, "method", name)
        for b in sweep.bits:
            Budget(bits=b)  # the general rule first
            method_cls.check_bits(b)
    for r in sweep.ranks:
        Budget(rank=r)
    for s in sweep.seeds:
        if s < 0:
            raise SpecError(f"seed {s} is not allowed; allowed: an integer >= 0")


def split_sets(sets, methods) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Section overrides and per-method overrides, with unknown keys rejected."""
    sections: dict[str, dict[str, Any]] = {k: {} for k in SECTIONS}
    per_method: dict[str, dict[str, Any]] = {}
    for key, value in sets:
        parts = key.split(".")
        if parts[0] == "method" and len(parts) == 3:
            lookup(registry.methods(), "method", parts[1])
            per_method.setdefault(parts[1], {})[parts[2]] = value
            continue
        if len(parts) != 2 or parts[0] not in SECTIONS:
            raise SpecError(
                f"unknown setting '{key}'; allowed: budget.*, calib.*, train.*, eval.*, "
                "method.<name>.<field>"
            )
        cls = SECTIONS[parts[0]]
        if parts[1] not in field_names(cls):
            raise SpecError(
                f"unknown setting '{key}'; allowed: "
                + ", ".join(f"{parts[0]}.{f}" for f in field_names(cls))
            )
        if parts[0] == "budget" and parts[1] in ("bits", "rank"):
            raise SpecError(f"set {key} with --{parts[1]}, not --set")
        sections[parts[0]][parts[1]] = coerce(cls, parts[1], value)
    return sections, per_method


def _section(cls: type, *layers: dict[str, Any] | None) -> Any:
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if key not in field_names(cls):
                raise SpecError(
                    f"unknown setting '{key}' for {cls.__name__}; allowed: "
                    + ", ".join(field_names(cls))
                )
            merged[key] = coerce(cls, key, value)
    return cls(**merged)


def _expand(sweep: Sweep) -> list[RunSpec]:
    """Every (model, method, bits, rank, task, seed) combination, deduplicated, in order.

    Building each dataclass checks every value; each method checks its budget.
    """
    from tasks.base import parse_source

    prof = load_profile(sweep.profile)
    sections, per_method = split_sets(sweep.sets, sweep.methods)
    data = sweep.data or prof.get("data", "real")
    source = parse_source(data)
    specs: dict[str, RunSpec] = {}
    known_methods, known_tasks = registry.methods(), registry.tasks()
    for model in sweep.models:
        for method in sweep.methods:
            method_cls = known_methods[method]
            method_obj = method_cls.from_overrides(per_method.get(method, {}))
            for bits in sweep.bits:
                if method_cls.default_quantizer == "none":
                    bits = UNQUANTIZED_BITS
                for rank in sweep.ranks:
                    budget = _section(
                        Budget, prof.get("budget"), sections["budget"], {"bits": bits}
                    )
                    budget = dataclasses.replace(budget, rank=rank)
                    method_obj.check_budget(budget)
                    for task in sweep.tasks:
                        task_obj = known_tasks[task]()
                        for seed in sweep.seeds:
                            spec = RunSpec(
                                model=model,
                                method=method,
                                task=task,
                                budget=budget,
                                calib=_section(
                                    SECTIONS["calib"], prof.get("calib"), sections["calib"]
                                ),
                                train=_section(
                                    SECTIONS["train"],
                                    prof.get("train"),
                                    prof.get("train_by_task", {}).get(task),
                                    sections["train"],
                                ),
                                eval=_section(
                                    SECTIONS["eval"],
                                    prof.get("eval"),
                                    prof.get("eval_by_task", {}).get(task),
                                    sections["eval"],
                                ),
                                seed=seed,
                                data=data,
                                method_config=method_obj.config_items(),
                                task_version=task_obj.version,
                            )
                            task_obj.protocol_name(spec.eval, source)
                            task_obj.check(spec)
                            specs.setdefault(run_key(spec), spec)
    return list(specs.values())
