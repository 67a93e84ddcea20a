"""YAML loading that remembers where every value came from.

ruamel's round-trip loader keeps line/column marks on mappings and sequences;
`Document.locate(loc)` turns a pydantic error location into file:line:column.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import Node

from towpath.errors import SpecError


@dataclass(frozen=True)
class Document:
    """A parsed YAML file: plain data plus the marked tree to locate fields in."""

    path: Path
    data: Any
    _tree: Any

    def locate(self, loc: tuple[int | str, ...]) -> tuple[int | None, int | None]:
        """Return 1-based (line, column) of the deepest node on `loc` that exists."""
        node, line, col = self._tree, 1, 1
        for key in loc:
            lc = getattr(node, "lc", None)
            try:
                if isinstance(key, int) and isinstance(node, list) and key < len(node):
                    if lc is not None:
                        line, col = lc.item(key)
                        line, col = line + 1, col + 1
                    node = node[key]
                elif isinstance(node, dict) and key in node:
                    if lc is not None:
                        line, col = lc.key(key)
                        line, col = line + 1, col + 1
                    node = node[key]
                else:
                    break
            except (KeyError, IndexError, TypeError):
                break
        return line, col

    def locate_value(self, loc: tuple[int | str, ...]) -> tuple[int | None, int | None]:
        """Where the *value* at `loc` starts (`locate` gives its key), else the nearest node's position.

        An error about a value (a bad parameter reference, a refused table) points at
        the value, not at its key.
        """
        node: Any = self._tree
        for key in loc[:-1]:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                return self.locate(loc)
        lc = getattr(node, "lc", None)
        if loc and isinstance(node, dict) and loc[-1] in node and lc is not None:
            try:
                line, col = lc.value(loc[-1])
                return line + 1, col + 1
            except (KeyError, TypeError):
                pass
        return self.locate(loc)


def load_yaml(path: Path | str, text: str | None = None) -> Document:
    """Parse a YAML file; a syntax error becomes a `SpecError` with its position."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise SpecError("file not found", file=path) from None
        except OSError as exc:
            raise SpecError(f"cannot read file: {exc.strerror}", file=path) from None
    return _parse(path, text)


@functools.lru_cache(maxsize=256)
def _parse(path: Path, text: str) -> Document:
    """Parse once per exact text: a run reads each workflow file twice (loader, preflight), and a
    scheduler or the worker reads the same files every run. Documents are frozen, never mutated."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _MarkedScalarConstructor
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        raise _syntax_error(path, exc) from None
    return Document(path=path, data=_plain(tree), _tree=tree)


_SCALAR_KINDS = {"timestamp": "date/timestamp", "int": "integer", "float": "number", "bool": "boolean"}


class _MarkedScalarConstructor(RoundTripConstructor):
    """ruamel builds `2022-02-30` or `!!int x` with a bare `ValueError` (no position): give it the scalar's mark."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            kind = _SCALAR_KINDS.get(str(node.tag).rpartition(":")[2], str(node.tag))
            raise ConstructorError(
                None, None, f"{node.value!r} is not a valid {kind} ({exc}); quote it to keep it as text",
                node.start_mark,
            ) from exc


def _syntax_error(path: Path, exc: MarkedYAMLError) -> SpecError:
    """Point at the construct that was left open when the parser only noticed at the end of the file."""
    problem = exc.problem or "invalid YAML"
    mark = exc.problem_mark
    if exc.context_mark is not None and (mark is None or "<stream end>" in problem or "end of the stream" in problem):
        mark = exc.context_mark
    context = ""
    if exc.context and exc.context_mark is not None:
        context = f" ({exc.context} started at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1})"
    line = mark.line + 1 if mark else None
    col = mark.column + 1 if mark else None
    return SpecError(f"invalid YAML: {problem}{context}", file=path, line=line, col=col)


def _plain(node: Any) -> Any:
    """ruamel's Commented* containers as plain dicts/lists (pydantic handles those best)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if node.__class__.__module__.startswith("ruamel"):
        for base in (bool, int, float, str):
            if isinstance(node, base):
                return base(node)
    return node
