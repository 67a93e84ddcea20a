"""The one way towpath registers a pluggable thing: a typed, lazily loading `Registry[T]`.

Every pluggable kind (job types, templates, audits, engines, connectors,
recipes, mock types, CLI groups, and the kinds that come next: KV engines,
stream formats, notification channels) is a `Registry` of name -> loader:

- built-ins are registered as `"module:attribute"` strings, so nothing is
  imported until a name is used (`towpath --help` and `import towpath` stay
  fast, and an optional dependency only matters when its implementation runs);
- a package adds its own under the kind's entry-point group
  (`towpath.engines`, `towpath.job_types`, ...) with zero edits to towpath;
- an unknown name raises `UnknownNameError` with the closest known name;
- an implementation whose dependency is missing raises `NotInstalledError`
  naming the pip extra to install.

This is pyiceberg's table of catalog loaders plus sqlglot's dialect entry
points, in one small class.

>>> shapes: Registry[type] = Registry("shape", group=None)
>>> shapes.register("int", "builtins:int")
>>> shapes.get("int")("7")
7
>>> shapes.get("itn")
Traceback (most recent call last):
...
towpath.errors.UnknownNameError: Unknown shape 'itn'. Did you mean 'int'?
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from towpath.errors import NotInstalledError, UnknownNameError

__all__ = ["Registry", "import_object", "lazy_exports"]

T = TypeVar("T")


def import_object(path: str, *, what: str = "object") -> Any:
    """The object a `"package.module:attribute.sub"` path names.

    Raises:
        ImportError: the module cannot be imported (the caller decides what that means).
        AttributeError: the module has no such attribute.
        ValueError: `path` is not of the form `module:attribute`.
    """
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected 'module:attribute' for the {what}, got {path!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for a package whose public names are imported on first use (PEP 562).

    A room's `__init__` keeps `import towpath.<room>` cheap this way: the pytest
    plugin, `towpath --help` and a missing optional driver never pay for names
    they do not touch. `exports` maps each public name to the module defining it;
    a loaded name is cached in the package's `namespace` (its `globals()`).
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__


@dataclass
class _Entry:
    target: Any
    """The implementation, or a `module:attribute` string loaded on first use."""
    extra: str | None = None
    """The pip extra that provides the implementation's dependencies."""


class Registry(Generic[T]):
    """Names -> implementations of one pluggable kind, loaded on first use.

    Args:
        kind: What the names name, for messages ("engine", "job type").
        group: The entry-point group plugins register under (`towpath.engines`,
            `towpath.job_types`, ...); None for a kind that takes no plugins.
    """

    def __init__(self, kind: str, *, group: str | None) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, _Entry] = {}
        self._loaded: dict[str, T] = {}
        self._plugins_scanned = False
        self._lock = threading.Lock()

    # -- registering -------------------------------------------------------------------------------

    @overload
    def register(self, name: str, target: T | str, *, extra: str | None = None) -> None: ...

    @overload
    def register(self, name: str, target: None = None, *, extra: str | None = None) -> Callable[[T], T]: ...

    def register(self, name: str, target: T | str | None = None, *, extra: str | None = None) -> Callable[[T], T] | None:
        """Register `target` (an object or a lazy `module:attribute` string) under `name`.

        Without `target`, returns a decorator. Registering a name again replaces it
        (a project may override a built-in on purpose).
        """
        if target is None:
            def decorator(obj: T) -> T:
                self.register(name, obj, extra=extra)
                return obj

            return decorator
        with self._lock:
            self._entries[name] = _Entry(target, extra)
            self._loaded.pop(name, None)
        return None

    # -- looking up --------------------------------------------------------------------------------

    def get(self, name: str) -> T:
        """The implementation registered as `name`.

        Raises:
            UnknownNameError: no such name, built in or from a plugin ("Did you mean ...").
            NotInstalledError: the implementation needs an optional dependency that is missing.
        """
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded
        entry = self._entries.get(name)
        if entry is None:
            self._scan_plugins(again=True)  # a package installed (or put on sys.path) since the last scan
            entry = self._entries.get(name)
            if entry is None:
                raise UnknownNameError(self.kind, name, self.names())
        value = self._load(name, entry)
        self._loaded[name] = value
        return value

    def names(self) -> list[str]:
        """Every registered name (built-ins and plugins), sorted."""
        self._scan_plugins()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, implementation) for every name, loading each; a missing extra raises."""
        for name in self.names():
            yield name, self.get(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name in self._entries:
            return True
        self._scan_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._entries)})"

    # -- internals ---------------------------------------------------------------------------------

    def _load(self, name: str, entry: _Entry) -> T:
        if not isinstance(entry.target, str):
            value: T = entry.target
            return value
        try:
            return import_object(entry.target, what=f"{self.kind} '{name}'")  # type: ignore[no-any-return]
        except ModuleNotFoundError as exc:
            if entry.extra is None or (exc.name or "").startswith("towpath"):
                raise
            raise NotInstalledError(self.kind, name, extra=entry.extra, missing=exc.name) from exc

    def _scan_plugins(self, *, again: bool = False) -> None:
        """Add the entry points of `group` (once, unless `again`); built-ins registered in code win over plugins."""
        if (self._plugins_scanned and not again) or self.group is None:
            return
        with self._lock:
            if self._plugins_scanned and not again:
                return
            if self.group in _declared_groups(fresh=again):
                from importlib.metadata import entry_points  # ~50 ms to import: only when a plugin exists

                for ep in entry_points(group=self.group):
                    self._entries.setdefault(ep.name, _Entry(ep.value))
            self._plugins_scanned = True


_GROUPS_SEEN: dict[tuple[str, ...], frozenset[str]] = {}


def _declared_groups(*, fresh: bool = False) -> frozenset[str]:
    """The entry-point groups any distribution on `sys.path` declares, read from the
    `entry_points.txt` headers themselves: importing `importlib.metadata` costs more
    than `towpath --help` may take, and most installs declare no towpath plugin."""
    key = tuple(sys.path)
    if fresh or key not in _GROUPS_SEEN:
        groups: set[str] = set()
        for folder in key:
            try:
                names = [e.name for e in os.scandir(folder or ".") if e.name.endswith((".dist-info", ".egg-info"))]
            except OSError:
                continue
            for name in names:
                try:
                    with open(os.path.join(folder or ".", name, "entry_points.txt"), encoding="utf-8") as handle:
                        groups.update(ln.strip()[1:-1].strip() for ln in handle if ln.lstrip().startswith("["))
                except OSError:
                    continue
        _GROUPS_SEEN[key] = frozenset(groups)
    return _GROUPS_SEEN[key]
