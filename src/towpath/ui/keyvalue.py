"""What the key-value pages show: each store the project's moves write, its namespaces and aliases, every
alias's versions (source snapshot, rows, audits), a typed key lookup, and rollback.

The data is `towpath.kv.overview` (`towpath kv namespaces --json`), `towpath.moves.list_versions`
(`towpath move versions --json`), `towpath.kv.typed.lookup` (`towpath kv get --json`) and
`towpath.moves.rollback` (`towpath move rollback`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from towpath.ui.config import UiInputError, UiNotFoundError

if TYPE_CHECKING:
    from towpath.kv import KvStore
    from towpath.moves import MoveSpec, VersionView
    from towpath.project import Project


@dataclass
class AliasView:
    alias: str
    move_file: str | None
    proto_module: str | None
    """The generated `*_pb2.py` keys are encoded and values decoded with (None: raw bytes)."""
    versions: list[VersionView]


@dataclass
class StoreView:
    url: str
    overview: dict[str, Any] = field(default_factory=dict)
    aliases: list[AliasView] = field(default_factory=list)
    error: str | None = None
    """Why the store could not be read (a server that is down): the other stores still show."""


def kv_page(project: Project) -> list[StoreView]:
    from towpath.errors import TowpathError
    from towpath.moves import find_moves, list_versions

    by_url: dict[str, list[MoveSpec]] = {"embedded": []}
    for spec in find_moves(project.root):
        by_url.setdefault(spec.key_value_dal.url, []).append(spec)
    views = []
    for url, specs in by_url.items():
        view = StoreView(url)
        try:
            with _open(project, specs[0] if specs else None) as store:
                from towpath.kv import overview

                view.overview = overview(store)
                for spec in specs:
                    view.aliases.append(AliasView(spec.alias, str(spec.path) if spec.path else None,
                                                  _proto_module(spec), list_versions(store, project.state, spec.alias)))
        except TowpathError as exc:
            view.error = str(exc)
        views.append(view)
    return views


def lookup(project: Project, alias: str, key_json: str) -> dict[str, Any]:
    """`towpath kv get ALIAS KEY_JSON --proto-module <the move's generated module> --json`."""
    from towpath.kv.typed import load_classes
    from towpath.kv.typed import lookup as typed_lookup

    if not key_json.strip():
        raise UiInputError("key: give the key as JSON of the key message, e.g. {\"order_id\": 7}")
    spec = _spec(project, alias)
    module = _proto_module(spec)
    key_class, value_class = load_classes(module, spec.protobuf.key_message) if module else (None, None)
    with _open(project, spec) as store:
        found = typed_lookup(store, alias, key_json, key_class, value_class)
    return {**found, "key": key_json, "proto_module": module}


def rollback(project: Project, alias: str, to: int | None) -> dict[str, Any]:
    """`towpath move rollback ALIAS [--to N] --json`: readers move back in one alias swap."""
    from towpath.moves import rollback as do_rollback
    from towpath.moves.versions import namespace_of

    spec = _spec(project, alias)
    with _open(project, spec) as store:
        before, after = do_rollback(store, project.state, alias, to)
    return {"namespace": alias, "from": before.version, "to": after.version, "to_namespace": namespace_of(after)}


def _spec(project: Project, alias: str) -> MoveSpec:
    from towpath.moves import find_move

    spec = find_move(project.root, alias)
    if spec is None:
        raise UiNotFoundError(f"no *.move.yaml of this project writes the alias '{alias}'")
    return spec


def _open(project: Project, spec: MoveSpec | None) -> KvStore:
    from towpath.kv import open_store
    from towpath.moves import open_kv

    return open_kv(spec, project.root) if spec is not None else open_store("embedded", root=project.root)


def _proto_module(spec: MoveSpec) -> str | None:
    """The move's generated Python module: `<output>/<alias>_pb2.py`, else the only `*_pb2.py` there."""
    folder = spec.output_folder()
    if folder is None or not folder.is_dir():
        return None
    named = folder / f"{spec.alias}_pb2.py"
    if named.is_file():
        return str(named)
    found = sorted(Path(folder).glob("*_pb2.py"))
    return str(found[0]) if len(found) == 1 else None
