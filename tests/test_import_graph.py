"""No import cycles among a package's modules, read from their source with ``ast``.

``import_graph`` finds every ``import`` and ``from ... import`` statement of every module of
the given packages (those inside functions, methods and ``if`` blocks included; imports made
by name at run time, such as ``importlib.import_module``, are not seen) and keeps the edges
from one of the packages' modules to another.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_files(package: str, root: Path = ROOT) -> dict[str, Path]:
    """Every module of a package and of its subpackages: dotted name -> file. A package's
    ``__init__.py`` is named after the package itself. A folder without an ``__init__.py`` is
    no subpackage (a data or script folder such as tasks/data/, whose files are not imported
    as part of the package), so nothing in it or below it counts."""
    base = root.joinpath(*package.split("."))
    modules = {}
    for path in sorted(base.rglob("*.py")):
        folders = [path.parent, *path.parent.relative_to(base).parents]
        if not all((base / folder / "__init__.py").is_file() for folder in folders):
            continue
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> set[str]:
    """The dotted names a module imports, relative imports resolved; ``from a import b`` gives
    both ``a`` and ``a.b`` (``b`` may be a submodule or a name defined in ``a``)."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join([*parts[:keep], *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def import_graph(packages: Iterable[str], root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the modules it imports, over the modules of ``packages`` found under ``root``.

    An import of ``a.b.name`` counts as an edge to ``a.b.name`` when that is a module, else to
    ``a.b``; the parent packages that Python imports on the way (``a`` here) are not edges, and
    a module's imports of itself are left out."""
    modules: dict[str, Path] = {}
    for package in packages:
        modules.update(module_files(package, root))
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_names(module, path):
            if name in modules:
                targets.add(name)
            elif "." in name and name.rpartition(".")[0] in modules:
                targets.add(name.rpartition(".")[0])
        targets.discard(module)
        graph[module] = targets
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of the graph as ``[a, b, ..., a]``, or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def write_package(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_graph_sees_imports_in_functions_relative_imports_and_subpackages(tmp_path):
    write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "import os\n\ndef f():\n    from pkg.b import thing\n",
            "pkg/b.py": "from . import c\nfrom .sub import d\nthing = 1\n",
            "pkg/c.py": "import pkg.a as a_module\n",
            "pkg/sub/__init__.py": "from .d import x\nfrom .. import a\n",
            "pkg/sub/d.py": "x = 1\n",
            "other/__init__.py": "import pkg.a\n",
            "pkg/scripts/make.py": "import pkg.a\n",  # no __init__.py: not a subpackage
            "pkg/scripts/lib/__init__.py": "from pkg.scripts import make\n",
        },
    )
    graph = import_graph(["pkg"], tmp_path)
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg", "pkg.c", "pkg.sub", "pkg.sub.d"},
        "pkg.c": {"pkg.a"},
        "pkg.sub": {"pkg.sub.d", "pkg", "pkg.a"},
        "pkg.sub.d": set(),
    }
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert import_graph(["pkg", "other"], tmp_path)["other"] == {"pkg.a"}


def test_find_cycle_on_acyclic_and_self_looping_graphs():
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"b"}}) == ["b", "b"]


def test_the_tasks_package_has_no_import_cycle():
    graph = import_graph(["tasks"])
    assert {"tasks.base", "tasks.lm_eval_protocols", "tasks.wikitext2"} <= set(graph)
    assert "tasks.base" in graph["tasks.wikitext2"]  # the graph does hold the package's edges
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_qbench_has_no_import_cycle_across_its_packages():
    graph = import_graph(["suite", "methods", "tasks"])
    assert "suite.context" in graph["suite.runner"] and "suite.spec" in graph["methods.base"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
