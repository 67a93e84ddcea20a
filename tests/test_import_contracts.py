"""Rooms meet only at their front doors: no import cycles between rooms, no private cross-room imports.

A room is a top-level package or module of `towpath` (`catalog`, `pipeline`, `errors`, ...).
Every import counts, function-level ones included (they hide cycles, they do not remove them);
imports under `if TYPE_CHECKING:` do not run and are ignored. A private import is one of
another room's `_module` (`towpath.pipeline._cast`) or `_name`.

The allow-lists name what is still wrong today and who is fixing it. They must only shrink: an
entry that no longer happens fails the test too, so it is removed when its fix lands.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

ALLOWED_CYCLES: dict[tuple[str, ...], str] = {
}
"""Room cycles still to break -> who is breaking them."""

ALLOWED_PRIVATE: dict[tuple[str, str], str] = {
}
"""(importing module, imported private name) still to fix -> who is fixing it."""


def _module_of(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "towpath" and len(parts) > 1 else None


def _imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(imported module, names imported from it) for every import that runs."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
        and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
        for sub in node.body for n in ast.walk(sub)
    }
    module = _module_of(path)
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, [alias.name for alias in node.names]


def _graph() -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    edges: dict[str, set[str]] = {}
    private: set[tuple[str, str]] = set()
    for path in sorted((SRC / "towpath").rglob("*.py")):
        if "recipes" in path.relative_to(SRC).parts:
            continue  # templates a user copies, not package modules
        module = _module_of(path)
        me = _room(module)
        for target, names in _imports(path):
            room = _room(target)
            if room is None or room == me:
                continue
            edges.setdefault(str(me), set()).add(room)
            inner = target.split(".")[2:]
            hidden = [part for part in inner if part.startswith("_")] + [n for n in names if n.startswith("_")]
            if hidden:
                private.add((module, f"{target}.{hidden[0]}" if hidden[0] in names else target))
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Strongly connected components with more than one room (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: set[tuple[str, ...]] = set()
    counter = itertools.count()

    def strong(v: str) -> None:
        index[v] = low[v] = next(counter)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(tuple(sorted(component)))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def test_no_new_import_cycle_between_rooms() -> None:
    cycles = _cycles(_graph()[0])
    assert cycles - set(ALLOWED_CYCLES) == set(), f"new import cycle between rooms: {sorted(cycles - set(ALLOWED_CYCLES))}"
    assert set(ALLOWED_CYCLES) - cycles == set(), f"fixed, remove from ALLOWED_CYCLES: {set(ALLOWED_CYCLES) - cycles}"


def test_no_room_imports_another_rooms_private_modules() -> None:
    private = _graph()[1]
    new = private - set(ALLOWED_PRIVATE)
    assert new == set(), "private cross-room imports (use the room's __init__):\n" + "\n".join(
        f"  {module} imports {name}" for module, name in sorted(new))
    assert set(ALLOWED_PRIVATE) - private == set(), f"fixed, remove from ALLOWED_PRIVATE: {set(ALLOWED_PRIVATE) - private}"


def test_the_check_sees_cycles_and_function_level_imports() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {("a", "b", "c")}
    edges, _ = _graph()
    assert "config" in edges["testing"]  # only imported inside a function (testing/mocks.py)
    assert "connectors" not in edges["pipeline"]  # the error-file sinks are named, not imported
