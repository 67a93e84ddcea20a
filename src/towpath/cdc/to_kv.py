"""CDC into a towpath KV namespace: each key's protobuf value put or deleted, the position written after.

Keys and values are the namespace's generated protobuf messages (`towpath.protobuf`):
the schema the job recorded before, else the one `towpath move` recorded for that
name in the state room (its field numbers and value columns, so both writers
encode alike), else one generated from the source's columns. An added source
column extends the value message under a new field number (old values still decode).

Exactly once: a batch's deletes and puts go first, then the batch's position,
in the job's own meta namespace `<namespace>.cdc` of the same store. A crash
between the two replays the batch on the next run; a put or a delete of a key's
last version is idempotent, so the namespace still ends equal to the source. The
schema is written next to the position, and as JSON to `schema_file`, which a
`connections:` KV table names to read the namespace through `towpath query`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from towpath.cdc.changes import DELETE, META, OP, ChangeBatch, Position, last_per_key
from towpath.cdc.spec import KvTargetSpec
from towpath.cdc.target import TargetContext

if TYPE_CHECKING:
    from towpath.kv import KvStore
    from towpath.protobuf import Encoder, ProtoSchema

__all__ = ["META_SUFFIX", "KvTarget"]

META_SUFFIX = ".cdc"
"""The job's meta namespace is `<namespace>.cdc`: keys `position` and `schema`."""

_POSITION, _SCHEMA = b"position", b"schema"


class KvTarget:
    def __init__(self, context: TargetContext, spec: KvTargetSpec) -> None:
        from towpath.kv import open_store

        self.spec, self.root = spec, context.root
        self.name = f"kv:{spec.namespace}"
        self.store: KvStore = open_store(spec.url, spec.token, root=context.root)
        self.meta = f"{spec.namespace}{META_SUFFIX}"
        self.schema_file = Path(spec.schema_file) if spec.schema_file else Path(".towpath") / "cdc" / (
            f"{spec.namespace}.schema.json")
        if not self.schema_file.is_absolute():
            self.schema_file = self.root / self.schema_file
        self._schema: ProtoSchema | None = None
        self._own = False  # is `_schema` the one this job recorded (not a move's)?
        self._encoder: Encoder | None = None

    # -- the meta namespace ------------------------------------------------------------------------

    def _meta(self, key: bytes) -> bytes | None:
        from towpath.kv import NamespaceNotFoundError

        try:
            return self.store.get(self.meta, key)
        except NamespaceNotFoundError:
            return None

    def _put_meta(self, key: bytes, value: bytes) -> None:
        if self.meta not in self.store.namespaces():
            self.store.create_namespace(self.meta)
        self.store.put_batch(self.meta, [key], [value])

    def position(self) -> Position | None:
        raw = self._meta(_POSITION)
        return Position.parse(json.loads(raw)["position"]) if raw else None

    def _set_position(self, position: Position, source_position: str) -> None:
        self._put_meta(_POSITION, json.dumps({"position": str(position), "source_position": source_position}).encode())

    def columns(self) -> list[str] | None:
        """The columns this job encoded so far (a moved schema's extra columns are written as unset)."""
        schema = self._recorded()
        if schema is None or not self._own:
            return None
        return [f.name for f in (*schema.key_schema, *schema.value_schema)]

    # -- the protobuf schema -----------------------------------------------------------------------

    def _recorded(self) -> ProtoSchema | None:
        """The schema this job recorded, else the one `towpath move` recorded for the namespace (or None)."""
        from towpath.protobuf import ProtoSchema

        if self._schema is None:
            raw = self._meta(_SCHEMA)
            data = json.loads(raw) if raw else self._moved_schema()
            self._schema, self._own = (ProtoSchema.from_json(data) if data else None), raw is not None
        return self._schema

    def _moved_schema(self) -> dict[str, Any] | None:
        from towpath.config import load_project_config
        from towpath.state import StateStore

        config = load_project_config(self.root)
        state = StateStore(config.resolve(self.root, config.state))
        for version in reversed(state.kv.versions(self.spec.namespace)):
            proto: dict[str, Any] | None = version.details.get("proto")
            if proto:
                return proto
        return None

    def _use(self, source: pa.Schema, key: list[str]) -> ProtoSchema:
        """The schema to encode `source`'s rows with: the recorded one, extended by added columns."""
        from towpath.protobuf import Encoder, FieldNumbers, generate_schema

        recorded = self._recorded()
        if recorded is not None:
            have = {f.name for f in (*recorded.key_schema, *recorded.value_schema)}
            added = [n for n in source.names if n not in have and n not in key]
            if self.spec.value_columns is not None or not added:
                schema = recorded
            else:
                values = [f.name for f in recorded.value_schema] + added
                arrow = pa.schema([*recorded.key_schema, *recorded.value_schema, *(source.field(n) for n in added)])
                schema = generate_schema(arrow, [f.name for f in recorded.key_schema], values,
                                         package=recorded.package, key_message=recorded.key.name,
                                         value_message=recorded.value.name, numbers=recorded.numbers,
                                         file_name=recorded.file_name)
        else:
            schema = generate_schema(source, key, self.spec.value_columns, numbers=FieldNumbers())
        if schema is not recorded or not self._own:
            self._record(schema)
            self._own = True
        self._schema, self._encoder = schema, Encoder(schema)
        return schema

    def _record(self, schema: ProtoSchema) -> None:
        text = json.dumps(schema.to_json(), indent=1)
        self._put_meta(_SCHEMA, text.encode())
        self.schema_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.schema_file.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.schema_file)

    def _encode(self, rows: pa.Table, *, values: bool) -> tuple[pa.BinaryArray, pa.BinaryArray | None]:
        assert self._schema is not None and self._encoder is not None
        fields = [*self._schema.key_schema, *(self._schema.value_schema if values else [])]
        typed = pa.table([rows[f.name].cast(f.type) if f.name in rows.column_names else pa.nulls(rows.num_rows, f.type)
                          for f in fields], schema=pa.schema(fields))
        return self._encoder.encode_keys(typed), self._encoder.encode_values(typed) if values else None

    # -- snapshot and changes ------------------------------------------------------------------

    def begin_snapshot(self, schema: pa.Schema, key: list[str]) -> _Load:
        from towpath.kv import NamespaceNotFoundError

        try:  # forget the position first: a crash during the load leaves a job that snapshots again
            self.store.delete_batch(self.meta, [_POSITION])
        except NamespaceNotFoundError:
            pass
        self.store.drop_namespace(self.spec.namespace)
        self.store.create_namespace(self.spec.namespace)
        self._use(schema, key)
        return _Load(self)

    def apply(self, batch: ChangeBatch, key: list[str]) -> int:
        changes = last_per_key(batch.after(self.position()), key)
        if changes.num_rows == 0:
            return 0
        if self._encoder is None:
            self._use(changes.drop_columns(list(META)).schema, key)
        gone = pc.equal(changes[OP], DELETE)
        deletes, upserts = changes.filter(gone), changes.filter(pc.invert(gone))
        if deletes.num_rows:
            self.store.delete_batch(self.spec.namespace, self._encode(deletes, values=False)[0])
        if upserts.num_rows:
            keys, values = self._encode(upserts, values=True)
            assert values is not None
            self.store.put_batch(self.spec.namespace, keys, values)
        assert batch.end is not None
        self._set_position(batch.end, batch.source_position)
        return int(changes.num_rows)

    def evolve(self, schema: pa.Schema) -> None:
        recorded = self._recorded()
        if recorded is not None:
            self._use(schema, [f.name for f in recorded.key_schema])

    def close(self) -> None:
        self.store.close()


class _Load:
    """The snapshot: every row put into the emptied namespace, then the position."""

    def __init__(self, target: KvTarget) -> None:
        self.target = target

    def add(self, batch: pa.RecordBatch) -> None:
        keys, values = self.target._encode(pa.Table.from_batches([batch]), values=True)
        assert values is not None
        self.target.store.put_batch(self.target.spec.namespace, keys, values)

    def commit(self, position: Position, source_position: str) -> None:
        self.target._set_position(position, source_position)
