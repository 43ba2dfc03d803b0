"""The import graph of ``src/discreet`` keeps the layering the design draws.

Every ``import`` counts, at module level, inside functions and under
``TYPE_CHECKING`` alike, so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import discreet

PACKAGE_ROOT = Path(discreet.__file__).parent
#: Code that runs on the device: it never imports the publisher's or the service's code.
DEVICE = ("catalog", "profile", "rank", "store", "sync", "engine", "kiosk", "home")
#: What only the publisher and the service run.
SERVER_SIDE = ("server", "publish", "evaluation", "demo", "demo_data", "demo_secagg", "cli")
#: Leaves: what both sides of the wire share imports nothing else of ours.
LEAVES = ("protocol", "vdaf")
#: The facade an app embeds is imported only from the top: the CLI, the kiosks, the demo.
ENGINE_IMPORTERS = ("<root>", "cli", "kiosk", "kiosk_web", "demo", "demo_secagg")


def module_names(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """``discreet.x.y`` to its file, for every module of the package."""
    out = {}
    for path in root.rglob("*.py"):
        parts = ["discreet", *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module to the modules of ours it imports, anywhere in its code."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("discreet"))
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(name, path, node)
                if base is None or not base.startswith("discreet"):
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _absolute(name: str, path: Path, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def top(module: str) -> str:
    """The first-level part a module belongs to (``<root>`` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = module_names()
    assert "discreet.protocol.params" in modules
    assert "discreet.engine" in modules
    return import_graph(modules)


def _edges(graph: Mapping[str, set[str]]) -> list[tuple[str, str]]:
    edges = [(a, b) for a, targets in graph.items() for b in targets]
    assert edges, "the import graph came out empty"
    return edges


def test_the_cycle_finder_finds_planted_cycles() -> None:
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e2"}, "e2": {"e"}}
    assert sorted(cycles(planted)) == [["a", "b", "c"], ["e", "e2"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_lazy_and_relative_imports_are_seen(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "pkg" / "a.py").write_text(
        "def f():\n    from discreet.pkg import b\n", encoding="utf-8"
    )
    (tmp_path / "pkg" / "b.py").write_text("from . import a\n", encoding="utf-8")
    found = import_graph(module_names(tmp_path))
    assert found["discreet.pkg.a"] == {"discreet.pkg.b"}
    assert found["discreet.pkg.b"] == {"discreet.pkg.a"}
    assert cycles(found) == [["discreet.pkg.a", "discreet.pkg.b"]]


def test_no_module_import_cycles(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_no_cycles_between_packages(graph: dict[str, set[str]]) -> None:
    packages: dict[str, set[str]] = {}
    for a, b in _edges(graph):
        if top(a) != top(b):
            packages.setdefault(top(a), set()).add(top(b))
    assert cycles(packages) == []


def test_device_code_never_imports_publisher_or_server_code(graph: dict[str, set[str]]) -> None:
    wrong = [(a, b) for a, b in _edges(graph) if top(a) in DEVICE and top(b) in SERVER_SIDE]
    assert wrong == []


def test_the_wire_protocol_is_a_leaf(graph: dict[str, set[str]]) -> None:
    assert any(top(a) == "protocol" for a in graph)
    wrong = [(a, b) for a, b in _edges(graph) if top(a) in LEAVES and top(b) != top(a)]
    assert wrong == []


def test_the_service_does_not_import_device_state(graph: dict[str, set[str]]) -> None:
    device_state = ("profile", "rank", "store", "sync", "engine", "kiosk")
    wrong = [(a, b) for a, b in _edges(graph) if top(a) == "server" and top(b) in device_state]
    assert wrong == []


def test_only_the_top_layers_import_the_engine_and_the_cli(graph: dict[str, set[str]]) -> None:
    engine = [a for a, b in _edges(graph) if b == "discreet.engine"]
    assert engine, "nothing imports the engine: the graph is not being read"
    assert {top(a) for a in engine} <= set(ENGINE_IMPORTERS)
    cli = [a for a, b in _edges(graph) if top(b) == "cli" and top(a) != "cli"]
    assert cli == ["discreet.__main__"]
