"""The PostgreSQL engine: one table per namespace in the store's schema, aliases in one table.

Layout in schema `<schema>` (default `towpath_kv`)::

    namespaces (ns text primary key, tab text)    which table holds each namespace
    aliases    (alias text primary key, ns text)  one UPDATE repoints an alias atomically
    <tab>      (k bytea primary key, v bytea)     one per namespace, `DROP TABLE` drops a version

A version is its own table so dropping it is a catalog change (its files are
unlinked), never a 10M-row DELETE that would bloat and lock what readers use.
Statements are composed with `psycopg.sql` (identifiers quoted by the driver),
never by splicing strings.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from towpath.kv.engines import mask_url, url_options
from towpath.kv.errors import (
    KvError,
    KvUnavailableError,
    KvUrlError,
    NamespaceExistsError,
    NamespaceInUseError,
    NamespaceNotFoundError,
)
from towpath.kv.store import (
    DEFAULT_SCAN_LIMIT,
    Binaries,
    Cursor,
    StoreBase,
    as_bytes_list,
    check_batch,
    check_name,
)

__all__ = ["PostgresStore", "open_postgres"]

_OPTIONS: dict[str, type] = {"schema": str}


def open_postgres(url: str, *, token: str | None = None, root: Path | None = None) -> PostgresStore:
    """`postgresql://user:password@host:port/db?schema=towpath_kv` (other libpq options pass through)."""
    del root
    parts = urlsplit(url)
    ours = {k: v for k, v in parse_qsl(parts.query) if k in _OPTIONS}
    theirs = [(k, v) for k, v in parse_qsl(parts.query) if k not in _OPTIONS]
    options = url_options(f"x:?{urlencode(ours)}", _OPTIONS) if ours else {}
    dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(theirs), ""))
    schema = str(options.get("schema", "towpath_kv"))
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        raise KvUrlError(f"{mask_url(url)}: schema must be a lower-case SQL name of at most 63 characters, got {schema!r}")
    try:
        conn = psycopg.connect(dsn, autocommit=True, password=token) if token else psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        raise KvUnavailableError(f"{mask_url(url)}: cannot connect to PostgreSQL: {str(exc).strip()}") from None
    return PostgresStore(conn, mask_url(url), schema=schema)


def _table_name(ns: str) -> str:
    """A namespace's table: readable, under PostgreSQL's 63-byte limit, unique by a digest of the full name."""
    clean = re.sub(r"[^a-z0-9_]", "_", ns.lower())[:40]
    return f"d_{clean}_{hashlib.sha1(ns.encode()).hexdigest()[:12]}"


class PostgresStore(StoreBase):
    """A `KvStore` in one PostgreSQL schema."""

    def __init__(self, conn: psycopg.Connection[Any], url: str, *, schema: str) -> None:
        self.conn = conn
        self.url = url
        self.schema = schema
        self._lock = threading.RLock()  # re-entered when an error lists the namespaces mid-transaction
        self._tables: dict[str, str] = {}
        with self._cursor() as cur, conn.transaction():
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (schema,))
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (ns text PRIMARY KEY, tab text NOT NULL)").format(
                self._meta("namespaces")))
            cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (alias text PRIMARY KEY, ns text NOT NULL)").format(
                self._meta("aliases")))

    # -- namespaces ----------------------------------------------------------------------------------

    def create_namespace(self, ns: str) -> None:
        check_name(ns)
        table = _table_name(ns)
        with self._cursor() as cur, self.conn.transaction():
            cur.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s) ON CONFLICT DO NOTHING").format(self._meta("namespaces")),
                        (ns, table))
            if cur.rowcount == 0:
                raise NamespaceExistsError(f"{self.url}: namespace '{ns}' already exists")
            cur.execute(sql.SQL("CREATE TABLE {} (k bytea PRIMARY KEY, v bytea NOT NULL)").format(self._data(table)))
        self._tables[ns] = table

    def drop_namespace(self, ns: str) -> None:
        check_name(ns)
        with self._cursor() as cur, self.conn.transaction():
            cur.execute(sql.SQL("SELECT alias FROM {} WHERE ns = %s ORDER BY alias").format(self._meta("aliases")), (ns,))
            users = [row[0] for row in cur.fetchall()]
            if users:
                raise NamespaceInUseError(f"{self.url}: namespace '{ns}' is the target of alias(es) {', '.join(users)}")
            cur.execute(sql.SQL("DELETE FROM {} WHERE ns = %s RETURNING tab").format(self._meta("namespaces")), (ns,))
            row = cur.fetchone()
            if row is not None:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._data(row[0])))
        self._tables.pop(ns, None)

    def namespaces(self) -> list[str]:
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT ns FROM {} ORDER BY ns").format(self._meta("namespaces")))
            return [row[0] for row in cur.fetchall()]

    def count(self, ns: str) -> int:
        table = self._resolve(ns)
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(self._data(table)))
            row = cur.fetchone()
            return int(row[0]) if row else 0

    # -- writes --------------------------------------------------------------------------------------

    def put_batch(self, ns: str, keys: Binaries, values: Binaries) -> int:
        key_list, value_list = as_bytes_list(keys, "keys"), as_bytes_list(values, "values")
        check_batch(key_list, value_list)
        table = self._table(ns)
        if not key_list:
            return 0
        if len(set(key_list)) != len(key_list):  # ON CONFLICT cannot touch one row twice in a statement: last wins
            merged = dict(zip(key_list, value_list))
            key_list, value_list = list(merged), list(merged.values())
        with self._cursor() as cur:
            cur.execute(
                sql.SQL("INSERT INTO {} (k, v) SELECT * FROM unnest(%s::bytea[], %s::bytea[]) "
                        "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v").format(self._data(table)),
                (key_list, value_list),
            )
        return len(key_list)

    def delete_batch(self, ns: str, keys: Binaries) -> int:
        key_list = as_bytes_list(keys, "keys")
        table = self._table(ns)
        with self._cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {} WHERE k = ANY(%s::bytea[])").format(self._data(table)), (key_list,))
            return int(cur.rowcount)

    # -- reads ---------------------------------------------------------------------------------------

    def get(self, ns_or_alias: str, key: bytes) -> bytes | None:
        table = self._resolve(ns_or_alias)
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT v FROM {} WHERE k = %s").format(self._data(table)), (key,))
            row = cur.fetchone()
            return None if row is None else bytes(row[0])

    def get_many(self, ns_or_alias: str, keys: Binaries) -> list[bytes | None]:
        key_list = as_bytes_list(keys, "keys")
        table = self._resolve(ns_or_alias)
        if not key_list:
            return []
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT k, v FROM {} WHERE k = ANY(%s::bytea[])").format(self._data(table)), (key_list,))
            found = {bytes(k): bytes(v) for k, v in cur.fetchall()}
        return [found.get(bytes(k)) for k in key_list]

    def scan(self, ns: str, cursor: Cursor | None = None, limit: int = DEFAULT_SCAN_LIMIT) -> tuple[
        list[tuple[bytes, bytes]], Cursor | None
    ]:
        if limit < 1:
            raise KvError(f"scan limit must be at least 1, got {limit}")
        table = self._resolve(ns)
        try:
            after = b"" if cursor is None else binascii.unhexlify(cursor)
        except (binascii.Error, ValueError):
            raise KvError(f"invalid scan cursor {cursor!r}: pass the next_cursor a previous scan returned") from None
        query = "SELECT k, v FROM {} WHERE k > %s ORDER BY k LIMIT %s" if cursor else "SELECT k, v FROM {} WHERE k >= %s ORDER BY k LIMIT %s"
        with self._cursor() as cur:
            cur.execute(sql.SQL(query).format(self._data(table)), (after, limit + 1))
            rows = [(bytes(k), bytes(v)) for k, v in cur.fetchall()]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (binascii.hexlify(rows[-1][0]).decode() if more else None)

    # -- aliases -------------------------------------------------------------------------------------

    def set_alias(self, alias: str, ns: str) -> None:
        check_name(alias, "alias")
        check_name(ns)
        with self._cursor() as cur, self.conn.transaction():
            cur.execute(sql.SQL("SELECT ns FROM {} WHERE ns = ANY(%s) FOR SHARE").format(self._meta("namespaces")),
                        ([alias, ns],))
            found = {row[0] for row in cur.fetchall()}
            if alias in found:
                raise KvError(f"{self.url}: '{alias}' is a namespace; an alias needs a name of its own")
            if ns not in found:
                raise NamespaceNotFoundError(ns, self.url, self.known_names())
            cur.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s) ON CONFLICT (alias) DO UPDATE SET ns = EXCLUDED.ns").format(
                self._meta("aliases")), (alias, ns))

    def alias(self, alias: str) -> str | None:
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT ns FROM {} WHERE alias = %s").format(self._meta("aliases")), (alias,))
            row = cur.fetchone()
            return None if row is None else str(row[0])

    def aliases(self) -> dict[str, str]:
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT alias, ns FROM {}").format(self._meta("aliases")))
            return {a: n for a, n in cur.fetchall()}

    def close(self) -> None:
        self.conn.close()

    # -- internals -----------------------------------------------------------------------------------

    def _meta(self, name: str) -> sql.Composable:
        return sql.Identifier(self.schema, name)

    def _data(self, table: str) -> sql.Composable:
        return sql.Identifier(self.schema, table)

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        try:
            with self._lock, self.conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError as exc:
            raise KvUnavailableError(f"{self.url}: PostgreSQL unavailable: {str(exc).strip()}") from None
        except psycopg.errors.UndefinedTable as exc:  # dropped by another store between lookup and read
            raise KvError(f"{self.url}: namespace dropped while in use: {str(exc).strip()}") from None
        except psycopg.Error as exc:
            raise KvError(f"{self.url}: PostgreSQL error: {str(exc).strip()}") from None

    def _table(self, ns: str) -> str:
        check_name(ns)
        known = self._tables.get(ns)
        if known is not None:
            return known
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT tab FROM {} WHERE ns = %s").format(self._meta("namespaces")), (ns,))
            row = cur.fetchone()
        if row is None:
            raise NamespaceNotFoundError(ns, self.url, self.known_names())
        self._tables[ns] = str(row[0])
        return str(row[0])

    def _resolve(self, name: str) -> str:
        """The table behind an alias or namespace, resolved in one statement (so one version per call)."""
        with self._cursor() as cur:
            cur.execute(sql.SQL("SELECT n.ns, n.tab FROM {} n WHERE n.ns = coalesce((SELECT a.ns FROM {} a "
                                "WHERE a.alias = %s), %s)").format(self._meta("namespaces"), self._meta("aliases")),
                        (name, name))
            row = cur.fetchone()
        if row is None:
            raise NamespaceNotFoundError(name, self.url, self.known_names())
        return str(row[1])
