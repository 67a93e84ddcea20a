"""KV namespaces as tables: key lookups when a statement joins on the key, a scan otherwise.

A KV table is its namespace's key columns followed by its value columns, decoded
with the namespace's generated protobuf schema (`towpath.protobuf`). A KV store
has no query language, so nothing can be pushed into it but keys; and a scan of
a namespace of millions of keys to join a few hundred is what federation must
not do. So a KV table joined on its key is resolved in two phases:

1. the partner of the join (the table whose columns the key columns equal, e.g.
   `ehr.patients p` in `JOIN devices.daily d ON d.patient_id = p.patient_id`) is
   read first, with the WHERE conjuncts that name only it (so they still reach its
   source: PostgreSQL/MySQL pushdown, lake pruning) and only the columns the
   statement uses; its rows are kept as an Arrow table;
2. the distinct keys of those rows are encoded and looked up with one `get_many`;
   the values found are decoded into the KV table's rows.

The statement then runs with both Arrow tables in place of the two references,
so the partner's source is read once. A KV table not joined on its key (or
joined only through an outer join's null-supplying side in a way that cannot be
split) is read by scanning its namespace.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from towpath.config.connections import KvConnection, KvTable
from towpath.federation._plan import FederatedQuery
from towpath.federation._refs import SourceRef
from towpath.federation.errors import FederationError, UnknownSourceTableError

if TYPE_CHECKING:
    from towpath.kv import KvStore
    from towpath.protobuf import Decoder, Encoder, ProtoSchema

__all__ = ["KvResolver", "KvTableReader"]

Run = Callable[[FederatedQuery], pa.Table]
"""Runs a statement on the executor (with the Arrow tables provided so far readable by name)."""

_names = itertools.count()


@dataclass
class KvTableReader:
    """One namespace with its schema compiled: looks keys up and decodes values into Arrow."""

    store: KvStore
    namespace: str
    schema: ProtoSchema
    encoder: Encoder
    decoder: Decoder

    @property
    def key_columns(self) -> list[str]:
        return list(self.schema.key_schema.names)

    def lookup(self, keys: pa.Table) -> pa.Table:
        """The rows of the keys in `keys` that exist (one `get_many`), key columns first."""
        keys = keys.select(self.key_columns).cast(self.schema.key_schema)
        if keys.num_rows == 0:
            return self.empty()
        found = pa.array(self.store.get_many(self.namespace, self.encoder.encode_keys(keys)), pa.binary())
        present = found.is_valid()
        values = self.decoder.decode_values(found.filter(present).to_pylist())
        return _join_columns(keys.filter(present), values)

    def scan(self) -> pa.Table:
        """Every row of the namespace (the KV table is not joined on its key)."""
        keys: list[bytes] = []
        values: list[bytes] = []
        cursor: str | None = None
        while True:
            pairs, cursor = self.store.scan(self.namespace, cursor)
            keys += [k for k, _ in pairs]
            values += [v for _, v in pairs]
            if cursor is None:
                break
        return _join_columns(self.decoder.decode_keys(keys), self.decoder.decode_values(values))

    def empty(self) -> pa.Table:
        return pa.schema([*self.schema.key_schema, *self.schema.value_schema]).empty_table()


class KvResolver:
    """Opens the KV connections of a project (stores and compiled schemas, once) and resolves KV tables."""

    def __init__(self, connections: Mapping[str, Any], root: Path) -> None:
        self.connections, self.root = connections, root
        self._stores: dict[str, KvStore] = {}
        self._readers: dict[tuple[str, str], KvTableReader] = {}
        self._lock = threading.Lock()
        self.lookups: list[tuple[str, int]] = []
        """(`connection.table`, keys looked up) per lookup, and `(..., -1)` per scan: what a query did."""

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()
        self._readers.clear()

    def resolve(self, planned: FederatedQuery, run: Run, provide: Callable[[str, pa.Table], None]) -> FederatedQuery:
        """Replace every KV table of `planned` (and the partner of each key join) by Arrow rows.

        `provide(name, rows)` makes rows readable under `name` for `run` and for the
        final statement; the returned query holds the references still to read.
        """
        expression = planned.expression
        for ref in planned.sources:
            spec = self.connections[ref.connection]
            if not isinstance(spec, KvConnection):
                continue
            reader = self.reader(ref, spec)
            node = _placeholder_node(expression, ref.placeholder)
            join = _key_join(node, reader.key_columns)
            if join is None:
                rows = reader.scan()
                self.lookups.append((ref.display, -1))
            else:
                partner, pairs = join
                partner_rows = self._read_partner(planned, partner, node, run, provide)
                keys = partner_rows.select([p for _, p in pairs]).rename_columns([k for k, _ in pairs])
                keys = keys.drop_null().group_by(keys.column_names).aggregate([])
                rows = reader.lookup(keys)
                self.lookups.append((ref.display, keys.num_rows))
            provide(ref.placeholder, rows)
        remaining = [r for r in planned.sources if _find_placeholder(expression, r.placeholder)
                     and not isinstance(self.connections[r.connection], KvConnection)]
        return FederatedQuery(expression, remaining)

    def reader(self, ref: SourceRef, spec: KvConnection) -> KvTableReader:
        """The namespace behind `connection.table` with its schema compiled (cached)."""
        table = spec.tables.get(ref.table) or spec.tables.get(ref.table.lower())
        if table is None or ref.schema is not None:
            raise UnknownSourceTableError(ref.display, [f"{ref.connection}.{name}" for name in spec.tables])
        with self._lock:
            key = (ref.connection, ref.table.lower())
            if key not in self._readers:
                self._readers[key] = self._open_reader(ref, spec, table)
            return self._readers[key]

    def _open_reader(self, ref: SourceRef, spec: KvConnection, table: KvTable) -> KvTableReader:
        from towpath.kv import open_store
        from towpath.protobuf import Decoder, Encoder, ProtoSchema, compile_schema

        path = Path(table.schema_) if Path(table.schema_).is_absolute() else self.root / table.schema_
        try:
            schema = ProtoSchema.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError) as err:
            from towpath.config.project import field_error

            raise field_error(self.root, ("connections", ref.connection, "tables", ref.table, "schema"),
                              f"cannot read the namespace's protobuf schema {path}: {err}") from None
        if ref.connection not in self._stores:
            self._stores[ref.connection] = open_store(spec.url, spec.token_value(self.root, ref.connection),
                                                      root=self.root)
        return KvTableReader(self._stores[ref.connection], table.namespace or ref.table, schema, Encoder(schema),
                             Decoder(compile_schema(schema)))

    def _read_partner(
        self, planned: FederatedQuery, partner: exp.Expression, kv_node: exp.Table, run: Run,
        provide: Callable[[str, pa.Table], None],
    ) -> pa.Table:
        """Phase 1: the partner's rows with its own filters and the columns the statement uses, as Arrow."""
        select = kv_node.find_ancestor(exp.Select)
        assert select is not None
        alias = partner.alias_or_name
        columns = _columns_of(select, alias)
        source = partner.copy()
        wanted: list[exp.Expression] = [exp.column(c, table=alias) for c in columns] or [exp.Star()]
        query = exp.select(*wanted).from_(source)
        if not any(j.side for j in select.args.get("joins") or []):  # only inner joins: its filters apply early
            own = [c for c in _conjuncts(select.args.get("where")) if _only_names(c, alias)]
            for condition in own:
                query = query.where(condition.copy())
        inside = [r for r in planned.sources if _find_placeholder(query, r.placeholder)]
        rows = run(FederatedQuery(query, inside))
        name = f"_towpath_rows_{next(_names)}"
        provide(name, rows)
        partner.replace(exp.Table(this=exp.to_identifier(name), alias=exp.TableAlias(this=exp.to_identifier(alias))))
        return rows


def _join_columns(keys: pa.Table, values: pa.Table) -> pa.Table:
    return pa.Table.from_arrays([*keys.columns, *values.columns], names=[*keys.column_names, *values.column_names])


def _placeholder_node(expression: exp.Expression, name: str) -> exp.Table:
    node = _find_placeholder(expression, name)
    if node is None:
        raise FederationError(f"internal: placeholder {name} vanished from the statement")
    return node


def _find_placeholder(expression: exp.Expression, name: str) -> exp.Table | None:
    return next((t for t in expression.find_all(exp.Table) if not t.db and t.name == name), None)


def _conjuncts(condition: exp.Expr | None) -> Iterator[exp.Expr]:
    if condition is None:
        return
    if isinstance(condition, exp.Where):
        condition = condition.this
    while isinstance(condition, exp.Paren):
        condition = condition.this
    if isinstance(condition, exp.And):
        yield from _conjuncts(condition.left)
        yield from _conjuncts(condition.right)
    else:
        yield condition


def _key_join(node: exp.Table, key_columns: list[str]) -> tuple[exp.Expression, list[tuple[str, str]]] | None:
    """The FROM/JOIN source every key column of `node` is equated to, and (key column, its column) pairs."""
    select = node.find_ancestor(exp.Select)
    if select is None:
        return None
    alias = node.alias_or_name
    conditions = [*_conjuncts(select.args.get("where"))]
    for join in select.args.get("joins") or []:
        conditions += _conjuncts(join.args.get("on"))
    partners: dict[str, dict[str, str]] = {}
    for condition in conditions:
        if not isinstance(condition, exp.EQ):
            continue
        left, right = condition.left, condition.right
        if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
            continue
        for mine, other in ((left, right), (right, left)):
            if mine.table == alias and other.table and other.table != alias and mine.name in key_columns:
                partners.setdefault(other.table, {})[mine.name] = other.name
    sources = [select.args.get("from_"), *(select.args.get("joins") or [])]
    for table_alias, pairs in partners.items():
        if set(pairs) != set(key_columns):
            continue
        for holder in sources:
            source = holder.this if holder is not None else None
            if isinstance(source, exp.Table | exp.Subquery) and source.alias_or_name == table_alias:
                return source, [(k, pairs[k]) for k in key_columns]
    return None


def _columns_of(select: exp.Select, alias: str) -> list[str]:
    """The columns of `alias` that `select` uses; empty (read all) when a `*` or an unqualified column hides which."""
    names: list[str] = []
    for column in select.find_all(exp.Column):
        if column.find_ancestor(exp.Select) is not select:  # a subquery's own columns
            continue
        if isinstance(column.this, exp.Star) or not column.table:
            return []
        if column.table == alias and column.name not in names:
            names.append(column.name)
    if any(isinstance(e, exp.Star) for e in select.expressions):
        return []
    return names


def _only_names(condition: exp.Expr, alias: str) -> bool:
    """Whether `condition` reads only columns of `alias` (and no subquery)."""
    columns = list(condition.find_all(exp.Column))
    return bool(columns) and all(c.table == alias for c in columns) and condition.find(exp.Select) is None
