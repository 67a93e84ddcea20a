"""What the key-value pages show: each store the project's moves write, its namespaces and aliases, every
alias's versions (source snapshot, rows, audits), a typed key lookup, and rollback.

The data is `towpath.kv.overview` (`towpath kv namespaces --json`), `towpath.moves.list_versions`
(`towpath move versions --json`), `towpath.kv.typed.lookup` (`towpath kv get --json`) and
`towpath.moves.rollback` (`towpath move rollback`). Keys are encoded and values decoded with the schema
the state room recorded for the alias's current version (`towpath.moves.recorded_schema`, as `kv get`
does), never with the move's generated `*_pb2.py`: a lookup works after that folder is deleted, and
reads a rolled-back version with the schema it was written with.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from towpath.ui.config import UiInputError, UiNotFoundError

if TYPE_CHECKING:
    from towpath.kv import KvStore
    from towpath.moves import MoveSpec, VersionView
    from towpath.project import Project
    from towpath.protobuf import CompiledSchema, ProtoSchema


@dataclass
class AliasView:
    alias: str
    move_file: str | None
    schema: str | None
    """The recorded key and value messages lookups use (`package.KeyMessage -> package.ValueMessage`;
    None: no version recorded one, values show as base64)."""
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
    from towpath.moves import find_moves, list_versions, recorded_schema

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
                    view.aliases.append(AliasView(
                        spec.alias, str(spec.path) if spec.path else None,
                        _schema_name(recorded_schema(store, project.state, spec.alias)),
                        list_versions(store, project.state, spec.alias)))
        except TowpathError as exc:
            view.error = str(exc)
        views.append(view)
    return views


def lookup(project: Project, alias: str, key_json: str) -> dict[str, Any]:
    """`towpath kv get ALIAS KEY_JSON --json`: typed with the schema recorded for the alias's current version."""
    from towpath.kv.typed import lookup as typed_lookup
    from towpath.moves import recorded_schema

    if not key_json.strip():
        raise UiInputError("key: give the key as JSON of the key message, e.g. {\"order_id\": 7}")
    spec = _spec(project, alias)
    with _open(project, spec) as store:
        schema = recorded_schema(store, project.state, alias)
        compiled = _compiled(schema) if schema is not None else None
        found = typed_lookup(store, alias, key_json, compiled.key_class if compiled else None,
                             compiled.value_class if compiled else None)
    return {**found, "key": key_json, "schema": _schema_name(schema)}


_compiled_lock = threading.Lock()
_compiled_by_text: dict[str, CompiledSchema] = {}


def _compiled(schema: ProtoSchema) -> CompiledSchema:
    """The schema's message classes, compiled by protoc once per distinct schema text (a lookup is then ~1 ms)."""
    from towpath.protobuf import compile_schema

    text = schema.to_proto()
    with _compiled_lock:
        found = _compiled_by_text.get(text)
    if found is None:
        found = compile_schema(schema)
        with _compiled_lock:
            _compiled_by_text[text] = found
    return found


def _schema_name(schema: ProtoSchema | None) -> str | None:
    return None if schema is None else f"{schema.package}.{schema.key.name} -> {schema.package}.{schema.value.name}"


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
