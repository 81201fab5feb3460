"""Sweeps: CLI flags + optional YAML + ``--set`` overrides -> validated RunSpecs.

Precedence, lowest first: the dataclass defaults, the profile (suite/profiles/<name>.yaml, with
its per-task sections and its ``method:`` / ``quant:`` sections), the YAML sweep file, the CLI
flags, then ``--set section.field=value`` (sections: budget, calib, train, eval,
``method.<name>.<field>`` for a method's own knobs, ``quant.<name>.<field>`` for the quantizer
settings every method shares, :mod:`suite.quant.config`).
Where none of them sets ``budget.lora_alpha`` or ``train.lora_dropout``, each method's own
(its released code's, :class:`methods.base.Method`) is filled in, and so are the quantizer
settings left unset (scale dtypes: the budget's; the others: the method's own,
:meth:`methods.base.Method.resolve_quant`), so every RunSpec holds the values its run uses.
Everything is checked here, once, before any model is loaded: names, bits per method, ranks,
keys, every dataclass field. :func:`build_sweep` expands the sweep into its RunSpecs once and
keeps them on the Sweep (``sweep.specs``); nothing downstream expands it again.

    >>> sweep = build_sweep(methods="qlora,lora16", bits="2,4", models="synthetic:tiny")
    >>> [(s.method, s.budget.bits) for s in sweep.specs]
    [('qlora', 2), ('qlora', 4), ('lora16', 16)]
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from suite import models as model_names
from suite import registry
from suite.contract import DEFAULT_EXPERIMENT, check_experiment
from suite.registry import lookup, unknown
from suite.spec import (
    SECTIONS,
    UNQUANTIZED_BITS,
    Budget,
    RunSpec,
    SpecError,
    coerce,
    field_names,
    spec_key,
)

PROFILE_DIR = Path(__file__).parent / "profiles"
PROFILE_KEYS = (
    "data",
    "budget",
    "calib",
    "train",
    "eval",
    "train_by_task",
    "eval_by_task",
    "method",
    "quant",
)
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


def load_profile(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A profile's settings; ``base: NAME`` starts from another profile's and changes only
    what the profile itself names (field by field, task by task, method by method)."""
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        raise SpecError(unknown("profile", name, profiles()))
    prof = yaml.safe_load(path.read_text()) or {}
    bad = sorted(set(prof) - set(PROFILE_KEYS) - {"base"})
    if bad:
        raise SpecError(
            f"unknown key '{bad[0]}' in profile {name}; allowed: base, {', '.join(PROFILE_KEYS)}"
        )
    base = prof.pop("base", None)
    if base is None:
        return prof
    if base in (*seen, name):
        chain = " -> ".join((*seen, name, str(base)))
        raise SpecError(
            f"profile {name} has base {base!r}, a cycle ({chain}); allowed: a base that does "
            "not lead back to the profile"
        )
    return merge_profiles(load_profile(str(base), (*seen, name)), prof)


def merge_profiles(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` applied to ``base``: a section's fields and a per-task or per-name section's
    entries are merged, a plain value (``data``) replaced."""
    out = dict(base)
    for key, value in over.items():
        if key in ("train_by_task", "eval_by_task", "method", "quant"):
            out[key] = merge_nested(_nested(base, key, key), _nested(over, key, key))
        elif isinstance(value, dict):
            out[key] = {**(base.get(key) or {}), **value}
        else:
            out[key] = value
    return out


def _nested(prof: dict[str, Any], key: str, what: str) -> dict[str, dict[str, Any]]:
    """A profile's ``method:`` or ``quant:`` section, {name: {field: value}}."""
    section = prof.get(key) or {}
    if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
        raise SpecError(
            f"profile section '{key}' must map each {what} to its settings, "
            f"e.g. {key}: {{name: {{field: value}}}}"
        )
    return section


def merge_nested(*layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{name: {field: value}} layers merged field by field, later layers winning."""
    out: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for name, values in layer.items():
            out.setdefault(name, {}).update(values)
    return out


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


def _number(text: str, kind: str, cast, allowed: str) -> Any:
    """A number of an axis: ``cast`` int takes only whole numbers (``1.5`` is not rank 1)."""
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"{kind} '{text}' is not a number; allowed: {allowed}") from None
    if not math.isfinite(value) or (cast is int and not value.is_integer()):
        raise SpecError(f"{kind} '{text}' is not allowed; allowed: {allowed}")
    return int(value) if value.is_integer() else value


def _axis(value: Any, flag: str, example: str) -> list[str]:
    """The comma-separated names of one axis; an axis that names nothing is an error."""
    items = _list(value)
    if not items:
        raise SpecError(f"{flag} {str(value)!r} names nothing; allowed: {example}")
    return items


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
    group_size: int | str | None = None,
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
            raise SpecError(
                f"sweep config '{config}' is not valid YAML ({_yaml_problem(err)}); "
                "allowed: a YAML mapping of " + ", ".join(SWEEP_KEYS)
            ) from None
        if not isinstance(file, dict):
            raise SpecError(
                f"sweep config '{config}' is a YAML {type(file).__name__}, not a mapping; "
                "allowed: a YAML mapping of " + ", ".join(SWEEP_KEYS)
            )
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
    chosen_group = pick(group_size, "group_size", None)
    if chosen_group is not None:  # 0 is a value to reject, not "unset"
        gs = _number(str(chosen_group), "group size", int, "a positive integer, e.g. 32, 64, 128")
        all_sets.append(("budget.group_size", gs))
    whole = "comma-separated integers >= 0, e.g. 0,1,2"
    sweep = Sweep(
        models=tuple(_axis(pick(models, "models", "smollm2-135m"), "--model", "smollm2-135m")),
        methods=tuple(_axis(pick(methods, "methods", "qlora,lora16"), "--methods", "qlora")),
        bits=tuple(
            _number(b, "bits", float, "2, 3, 4, 8 (fractional for bit-allocating methods)")
            for b in _axis(pick(bits, "bits", "4"), "--bits", "2,3,4")
        ),
        ranks=tuple(
            _number(r, "rank", int, "positive integers, e.g. 8,16,64")
            for r in _axis(pick(ranks, "ranks", "64"), "--rank", "8,16,64")
        ),
        tasks=tuple(_axis(pick(tasks, "tasks", "wikitext2"), "--tasks", "wikitext2")),
        seeds=tuple(
            _number(s, "seed", int, whole)
            for s in _axis(pick(seeds, "seeds", "0"), "--seeds", whole)
        ),
        profile=str(pick(profile, "profile", "quick")),
        data=str(pick(data, "data", "") or ""),
        experiment=check_experiment(str(pick(experiment, "experiment", DEFAULT_EXPERIMENT))),
        sets=tuple(all_sets),
    )
    _check_axes(sweep)
    return dataclasses.replace(sweep, specs=tuple(_expand(sweep)))


def _yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where (PyYAML's own text spans lines)."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


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
    """Section overrides and per-method overrides, with unknown keys rejected.

    ``quant.<name>.<field>`` overrides come back as ``sections["quant"]``, {name: {field: raw}}.
    """
    from suite.quant.config import QuantSpec

    sections: dict[str, dict[str, Any]] = {k: {} for k in SECTIONS}
    per_method: dict[str, dict[str, Any]] = {}
    quant: dict[str, dict[str, Any]] = {}
    for key, value in sets:
        parts = key.split(".")
        if parts[0] == "method" and len(parts) == 3:
            lookup(registry.methods(), "method", parts[1])
            per_method.setdefault(parts[1], {})[parts[2]] = value
            continue
        if parts[0] == "quant" and len(parts) == 3:
            quant.setdefault(parts[1], {})[parts[2]] = value
            QuantSpec.from_overrides({parts[1]: {parts[2]: value}})  # names and value checked
            continue
        if len(parts) != 2 or parts[0] not in SECTIONS:
            raise SpecError(
                f"unknown setting '{key}'; allowed: budget.*, calib.*, train.*, eval.*, "
                "method.<name>.<field>, quant.<name>.<field>"
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
    if quant:
        sections["quant"] = quant
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


def _resolve_dropout(train: Any, method_cls: Any, bits: float) -> Any:
    """The train section with its lora_dropout set: the given one, else the method's own."""
    if train.lora_dropout is not None:
        return train
    return dataclasses.replace(train, lora_dropout=method_cls.native_dropout(bits))


def _expand(sweep: Sweep) -> list[RunSpec]:
    """Every (model, method, bits, rank, task, seed) combination, deduplicated, in order.

    Building each dataclass checks every value; each method checks its budget.
    """
    from suite.quant.config import QuantSpec
    from tasks.base import parse_source
    from tasks.wikitext2 import split_path

    prof = load_profile(sweep.profile)
    sections, per_method = split_sets(sweep.sets, sweep.methods)
    data = sweep.data or prof.get("data", "real")
    source = parse_source(data)
    # every run draws its calibration and holdout windows from the WikiText-2 train split
    files = {}
    if source.kind == "dir":
        files[split_path(source, "train")] = "the WikiText-2 train split"
    specs: dict[str, RunSpec] = {}
    known_methods, known_tasks = registry.methods(), registry.tasks()
    prof_methods = _nested(prof, "method", "method")
    for name, values in prof_methods.items():  # every method the profile names, checked
        lookup(known_methods, "method", name).from_overrides(values)
    per_method = merge_nested(prof_methods, per_method)
    quant = QuantSpec.from_overrides(
        merge_nested(_nested(prof, "quant", "quantizer"), sections.pop("quant", {}))
    )
    for model in sweep.models:
        for method in sweep.methods:
            method_cls = known_methods[method]
            method_obj = method_cls.from_overrides(per_method.get(method, {}), quant)
            for bits in sweep.bits:
                if method_cls.default_quantizer == "none":
                    bits = UNQUANTIZED_BITS
                for rank in sweep.ranks:
                    budget = _section(
                        Budget, prof.get("budget"), sections["budget"], {"bits": bits}
                    )
                    budget = method_obj.resolve_budget(dataclasses.replace(budget, rank=rank))
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
                                train=_resolve_dropout(
                                    _section(
                                        SECTIONS["train"],
                                        prof.get("train"),
                                        prof.get("train_by_task", {}).get(task),
                                        sections["train"],
                                    ),
                                    method_cls,
                                    bits,
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
                                quant=method_obj.resolve_quant(budget).items(),
                            )
                            task_obj.protocol_name(spec.eval, source)
                            task_obj.check(spec)
                            files.update(task_obj.data_files(source, spec.eval))
                            specs.setdefault(spec_key(spec), spec)
    _check_files(data, source.path, files)
    return list(specs.values())


def _check_files(data: str, root: Path | None, files: dict[Path, str]) -> None:
    """SpecError naming the first file a local data directory lacks."""
    for path, what in files.items():
        if not path.is_file():
            shown = path.relative_to(root) if root and path.is_relative_to(root) else path
            raise SpecError(
                f"data directory '{data}' has no {shown} ({what}); allowed: a directory in "
                "qbench's layout, e.g. DIR/wikitext2/wiki.{train,valid,test}.raw (README, Data)"
            )
