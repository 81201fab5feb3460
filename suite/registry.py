"""The tables of methods and tasks, found from their own modules, with did-you-mean errors.

A method is a subclass of :class:`methods.base.Method` defined in a module of the ``methods``
package; a task is a subclass of :class:`tasks.base.Task` defined in a module of the ``tasks``
package. Each declares itself once, in its class attributes (a method: ``name``, ``summary``,
``Config``, ``default_quantizer``, ``init_uses_data``, ``bits``, ``fractional_bits``); adding
one is adding its module. Modules named in ``$QBENCH_PLUGINS`` (comma-separated import paths)
and in the ``qbench.plugins`` entry-point group are searched too, so a method or task can live
outside this repository.

Finding them imports the modules: method and task modules import torch only inside their
functions, so ``qbench --help``, ``qbench ls`` and input validation stay torch-free.

    >>> sorted(methods())[:3]
    ['apiq', 'cloq', 'gptq-lora']
    >>> lookup(methods(), "method", "qlora").needs_calibration()
    False
    >>> lookup(tasks(), "task", "wikitxt2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    suite.spec.SpecError: unknown task 'wikitxt2' (did you mean 'wikitext2'?); allowed: ...
"""

from __future__ import annotations

import difflib
import functools
import importlib
import os
import pkgutil
from importlib import metadata
from typing import Any

from suite.spec import SpecError

PLUGINS_ENV = "QBENCH_PLUGINS"
PLUGIN_GROUP = "qbench.plugins"


def methods() -> dict[str, Any]:
    """``{name: Method subclass}`` of every method found, sorted by name."""
    from methods.base import Method

    return dict(_found("methods", Method, _plugins()))


def tasks() -> dict[str, Any]:
    """``{name: Task subclass}`` of every task found, sorted by name."""
    from tasks.base import Task

    return dict(_found("tasks", Task, _plugins()))


def lookup(table: dict[str, Any], kind: str, name: str) -> Any:
    """The entry for ``name``, or a SpecError naming it, the allowed names and a close match."""
    if name in table:
        return table[name]
    raise SpecError(unknown(kind, name, sorted(table)))


def unknown(kind: str, name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}'{hint}; allowed: {', '.join(allowed)}"


def _plugins() -> tuple[str, ...]:
    named = [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    points = [ep.value for ep in metadata.entry_points(group=PLUGIN_GROUP)]
    return tuple(dict.fromkeys([*named, *points]))


@functools.lru_cache(maxsize=16)
def _found(package: str, base: Any, plugins: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """(name, class) pairs of ``base`` subclasses defined in ``package``'s modules and plugins."""
    root = importlib.import_module(package)
    names = [f"{package}.{m.name}" for m in pkgutil.iter_modules(root.__path__)]
    found: dict[str, Any] = {}
    for module_name in [*names, *plugins]:
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            if module_name in plugins:
                raise SpecError(
                    f"plugin module '{module_name}' could not be imported ({err}); allowed: "
                    f"importable module paths in ${PLUGINS_ENV}"
                ) from None
            raise
        for obj in vars(module).values():
            if not (isinstance(obj, type) and issubclass(obj, base)):
                continue
            name: str = getattr(obj, "name", "")
            if not name or obj.__module__ != module.__name__:
                continue
            if name in found and found[name] is not obj:
                raise SpecError(
                    f"{package} name '{name}' is declared twice: by "
                    f"{found[name].__module__} and {obj.__module__}"
                )
            found[name] = obj
    return tuple(sorted(found.items()))
