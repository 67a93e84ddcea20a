"""The database under the state store: SQLite next to the catalog by default, Postgres by URL.

SQLite runs in WAL mode so readers (`towpath runs list`) work while a run
writes, and every write transaction is `BEGIN IMMEDIATE` with a busy timeout,
so several processes (parallel backfill dates, the scheduler, a manual run)
record at once without `database is locked` and without lock upgrades that
deadlock. Connections are pooled: with a pool of none, every transaction
closed the last connection to the WAL database, and SQLite checkpoints (and
fsyncs) on that close — 12 ms per recorded job, audit or heartbeat instead of
0.04 ms. A connection is never used across `fork` (the worker and the scheduler
fork per command): a child that checks out its parent's connection drops it and
opens its own. On Postgres, migrations take an advisory lock so two processes
opening a new store do not both create it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from towpath.state import _schema
from towpath.state.errors import StateError

_MIGRATION_LOCK = 0x746F7770  # "towp": the Postgres advisory lock held while migrating


class Database:
    """One state database: `read()` and `write()` transactions over SQLAlchemy Core."""

    def __init__(self, location: Path | str, *, timeout_s: float = 30.0) -> None:
        text = str(location)
        if "://" in text:
            self.url = text
            self.where = sa.make_url(text).render_as_string(hide_password=True)
        else:
            path = Path(text)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.url = f"sqlite:///{path}"
            self.where = text
        self.timeout_s = timeout_s
        try:
            self.engine = self._create_engine()
            self._migrate()
        except sa.exc.SQLAlchemyError as exc:
            raise StateError(f"cannot open the state store {self.where}: {_short(exc)}") from exc

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise StateError(f"cannot read the state store {self.where}: {_short(exc)}") from exc

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One transaction; on SQLite it takes the write lock up front (`BEGIN IMMEDIATE`)."""
        try:
            with self.engine.connect() as conn:
                conn.info["immediate"] = True
                with conn.begin():
                    yield conn
        except sa.exc.IntegrityError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            raise StateError(f"cannot write the state store {self.where}: {_short(exc)}") from exc

    def dispose(self) -> None:
        self.engine.dispose()

    def _create_engine(self) -> sa.Engine:
        if not self.url.startswith("sqlite"):
            return _fork_safe(sa.create_engine(self.url, pool_pre_ping=True))
        url = sa.make_url(self.url)
        if url.drivername in ("sqlite", "sqlite+pysqlite"):
            url = url.set(drivername="sqlite+towpath")
        engine = _fork_safe(
            sa.create_engine(url, connect_args={"timeout": self.timeout_s, "isolation_level": None})
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000):d}")
            dbapi_conn.execute("PRAGMA foreign_keys = ON")
            dbapi_conn.execute("PRAGMA journal_mode = WAL")  # persistent; a no-op once set
            # In WAL mode NORMAL never corrupts the file and survives a process crash (kill -9);
            # only a power cut can lose the last commits. It saves an fsync per run/job/audit record.
            dbapi_conn.execute("PRAGMA synchronous = NORMAL")

        return engine

    def _migrate(self) -> None:
        """Bring the schema up to date, locking only when it is behind.

        Every CLI process opens the store, so the common case (already current) is
        a plain read: taking SQLite's write lock here would make concurrent runs
        queue behind each other's opens. Only a store that needs migrating takes the
        lock (SQLite: `BEGIN IMMEDIATE`, Postgres: an advisory lock) and reads the
        version again under it, since another process may have migrated meanwhile.
        """
        with self.engine.connect() as conn:
            if self._checked_version(conn) == _schema.SCHEMA_VERSION:
                return
        with self.engine.connect() as conn:
            conn.info["immediate"] = True
            with conn.begin():
                if not self.is_sqlite:
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
                version = self._checked_version(conn)
                if version < _schema.SCHEMA_VERSION:
                    _schema.migrate(conn, version)

    def _checked_version(self, conn: sa.Connection) -> int:
        """The store's schema version, refused when it is newer than this towpath."""
        version = _schema.read_version(conn)
        if version > _schema.SCHEMA_VERSION:
            raise StateError(
                f"the state store {self.where} has schema version {version}, newer than this towpath "
                f"understands ({_schema.SCHEMA_VERSION}); upgrade towpath"
            )
        return version


class TowpathSQLiteDialect(SQLiteDialect_pysqlite):
    """pysqlite, beginning each transaction with the lock `Database` asks for.

    pysqlite in autocommit mode issues no BEGIN of its own. Choosing the lock in
    the dialect rather than in an engine `begin` event keeps the engine free of
    connection events: with one, SQLAlchemy dispatches events around every
    statement, and recording a job's start and finish took 0.50 ms, not 0.19.
    """

    supports_statement_cache = True  # as the parent: only the BEGIN differs

    def do_begin(self, dbapi_connection: Any) -> None:
        # A pool-proxied connection: `info` is what `Database.write` set on the `sa.Connection`.
        dbapi_connection.execute("BEGIN IMMEDIATE" if dbapi_connection.info.pop("immediate", False) else "BEGIN")


registry.register("sqlite.towpath", __name__, "TowpathSQLiteDialect")


def _fork_safe(engine: sa.Engine) -> sa.Engine:
    """Pool connections per process: one inherited through `fork` is dropped, never shared.

    SQLAlchemy's recipe for pools and `os.fork()`: the record remembers the pid that
    opened it, and a checkout in another process detaches it (without closing the
    parent's handle) and asks the pool for a fresh one.
    """

    @sa.event.listens_for(engine, "connect")
    def _remember_pid(_dbapi_conn: Any, record: Any) -> None:
        record.info["pid"] = os.getpid()

    @sa.event.listens_for(engine, "checkout")
    def _refuse_inherited(_dbapi_conn: Any, record: Any, proxy: Any) -> None:
        if record.info["pid"] != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None
            raise sa.exc.DisconnectionError("a connection opened by the parent process")

    return engine


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (someone else's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _short(exc: BaseException) -> str:
    """A SQLAlchemy error without its SQL and parameter dump."""
    original = getattr(exc, "orig", None)
    return str(original if original is not None else exc).splitlines()[0]
