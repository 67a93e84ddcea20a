"""`towpath.yaml`'s `connections:`: the databases, KV stores and catalogs a query may name.

Each entry is a connection by name whose `type` picks its model from
`CONNECTION_TYPES` (one registration per kind; plugins add kinds through the
`towpath.connection_types` entry-point group):

    connections:
      ehr:                                   # SELECT ... FROM ehr.patients
        type: mariadb
        host: db.internal
        user: analyst
        password: {env: EHR_PASSWORD}        # or {file: /run/secrets/ehr}
        database: health

A model states how it differs as data (`DUCKDB_TYPE`, `EXTENSION`,
`JDBC_DRIVER`, `kind`), so the federation room attaches every relational kind
with one code path. Secrets never sit in `towpath.yaml`: a `Secret` names an
environment variable or a file, is read when the connection opens, and prints
as `'***'` in reprs, errors and logs.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from towpath.config.base import SECRET_ERROR, Spec, invalid
from towpath.config.unions import RegisteredUnion, tagged_union
from towpath.errors import ConnectorError
from towpath.registry import Registry

__all__ = [
    "CONNECTION_TYPES", "Connection", "ConnectionKind", "IcebergConnection", "KvConnection", "KvTable", "MySqlConnection",
    "PostgresConnection", "RelationalConnection", "Secret", "SqliteConnection",
]

ConnectionKind = Literal["relational", "kv", "iceberg"]
"""How the federation room reads a connection: attached by a DuckDB scanner / JDBC, a KV namespace, a catalog."""


class Secret(Spec):
    """A credential read from an environment variable or a file, never written in `towpath.yaml`."""

    env: str | None = None
    """Environment variable holding the secret."""
    file: str | None = None
    """File holding the secret (project-relative or absolute); a trailing newline is dropped."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_literal(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise PydanticCustomError(SECRET_ERROR, "a secret is never written in towpath.yaml: write "
                                      "{env: VARIABLE} or {file: PATH}")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise invalid("expected exactly one of 'env' (an environment variable) or 'file' (a path)")
        return self

    def reveal(self, root: Path, loc: tuple[int | str, ...]) -> str:
        """The secret's value; errors (which never show it) are at `loc` of `root/towpath.yaml`."""
        from towpath.config.project import field_error

        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise field_error(root, loc, f"the environment variable {self.env} is not set")
            return value
        assert self.file is not None
        path = Path(self.file) if Path(self.file).is_absolute() else root / self.file
        try:
            return path.read_text().rstrip("\r\n")
        except OSError as err:
            raise field_error(root, loc, f"cannot read the secret file {path}: {err.strerror}") from None

    def __repr__(self) -> str:
        source = f"env={self.env!r}" if self.env else f"file={self.file!r}"
        return f"Secret({source}, value='***')"

    __str__ = __repr__


class ConnectionSpec(Spec):
    """What every connection has: its `type` (the registry name of its kind)."""

    type: str
    kind: ClassVar[ConnectionKind]


class RelationalConnection(ConnectionSpec):
    """A database DuckDB attaches with a scanner extension and Spark reads over JDBC."""

    kind: ClassVar[ConnectionKind] = "relational"
    DUCKDB_TYPE: ClassVar[str]
    """`ATTACH ... (TYPE x)`."""
    EXTENSION: ClassVar[str]
    """The DuckDB extension (from its `duckdb-extension-*` wheel) that scans it."""
    JDBC_DRIVER: ClassVar[str | None] = None
    """Spark's JDBC driver class (None: Spark cannot read this kind)."""
    JDBC_JAR: ClassVar[str | None] = None
    """Where Debian installs that driver's jar."""

    @abstractmethod
    def default_schema(self) -> str:
        """The schema a two-part name `conn.table` reads, as DuckDB names it once attached."""

    @abstractmethod
    def duckdb_dsn(self, root: Path, name: str) -> str:
        """The connection string `ATTACH` takes (holds the secret: never log it)."""

    def jdbc(self, root: Path, name: str) -> tuple[str, dict[str, str]]:
        """Spark's JDBC URL and properties (user, password, driver); kinds without a driver refuse."""
        raise ConnectorError(f"connection '{name}' ({self.type}) has no JDBC driver for Spark; query it with --engine duckdb")

    def secret_values(self, root: Path, name: str) -> list[str]:
        """The secrets this connection opens with, so error messages can hide them."""
        return []


class _ServerConnection(RelationalConnection):
    host: str = "127.0.0.1"
    port: int = Field(gt=0, lt=65536)
    user: str
    password: Secret | None = None
    database: str

    def _password(self, root: Path, name: str) -> str:
        return self.password.reveal(root, ("connections", name, "password")) if self.password else ""

    def secret_values(self, root: Path, name: str) -> list[str]:
        return [self._password(root, name)]

    URL_SCHEME: ClassVar[str]

    def url(self, root: Path, name: str) -> str:
        """`scheme://user:password@host:port/database`, what a CDC source connects with (never printed)."""
        secret = quote(self._password(root, name), safe="")
        auth = quote(self.user, safe="") + (f":{secret}" if secret else "")
        return f"{self.URL_SCHEME}://{auth}@{self.host}:{self.port}/{quote(self.database, safe='')}"


class PostgresConnection(_ServerConnection):
    """PostgreSQL through DuckDB's `postgres_scanner` (filter and projection pushdown into `COPY (SELECT ...)`)."""

    type: Literal["postgres"]
    port: int = Field(default=5432, gt=0, lt=65536)
    schema_: str = Field(default="public", alias="schema")
    """The schema `conn.table` reads; `conn.other_schema.table` reads any other."""
    URL_SCHEME: ClassVar[str] = "postgresql"
    DUCKDB_TYPE: ClassVar[str] = "postgres"
    EXTENSION: ClassVar[str] = "postgres_scanner"
    JDBC_DRIVER: ClassVar[str | None] = "org.postgresql.Driver"
    JDBC_JAR: ClassVar[str | None] = "/usr/share/java/postgresql.jar"

    def default_schema(self) -> str:
        return self.schema_

    def duckdb_dsn(self, root: Path, name: str) -> str:
        words = {"host": self.host, "port": str(self.port), "user": self.user, "dbname": self.database,
                 "password": self._password(root, name)}
        return " ".join(f"{k}={_libpq_quote(v)}" for k, v in words.items() if v)

    def jdbc(self, root: Path, name: str) -> tuple[str, dict[str, str]]:
        url = f"jdbc:postgresql://{self.host}:{self.port}/{quote(self.database)}"
        return url, {"user": self.user, "password": self._password(root, name), "driver": str(self.JDBC_DRIVER)}


class MySqlConnection(_ServerConnection):
    """MySQL or MariaDB through DuckDB's `mysql_scanner` (pushdown into the SELECT it sends)."""

    type: Literal["mysql", "mariadb"]
    port: int = Field(default=3306, gt=0, lt=65536)
    URL_SCHEME: ClassVar[str] = "mysql"
    DUCKDB_TYPE: ClassVar[str] = "mysql"
    EXTENSION: ClassVar[str] = "mysql_scanner"
    JDBC_DRIVER: ClassVar[str | None] = "org.mariadb.jdbc.Driver"
    JDBC_JAR: ClassVar[str | None] = "/usr/share/java/mariadb-java-client.jar"

    def default_schema(self) -> str:
        return self.database

    def duckdb_dsn(self, root: Path, name: str) -> str:
        words = {"host": self.host, "port": str(self.port), "user": self.user, "database": self.database,
                 "password": self._password(root, name)}
        return " ".join(f"{k}={_libpq_quote(v)}" for k, v in words.items() if v)

    def jdbc(self, root: Path, name: str) -> tuple[str, dict[str, str]]:
        # jdbc:mysql: so that Spark picks its MySQL dialect (backtick identifiers): under jdbc:mariadb: it
        # falls back to ANSI "double quotes", which MariaDB reads as strings, so `"amount" > 400` was
        # pushed down as a comparison of the string 'amount' and matched nothing. Connector/J 2.x takes
        # the prefix as is, 3.x with permitMysqlScheme.
        url = f"jdbc:mysql://{self.host}:{self.port}/{quote(self.database)}?permitMysqlScheme"
        return url, {"user": self.user, "password": self._password(root, name), "driver": str(self.JDBC_DRIVER)}


class SqliteConnection(RelationalConnection):
    """A SQLite file through DuckDB's `sqlite_scanner` (read-only)."""

    type: Literal["sqlite"]
    path: str
    """The database file, project-relative or absolute."""
    DUCKDB_TYPE: ClassVar[str] = "sqlite"
    EXTENSION: ClassVar[str] = "sqlite_scanner"

    def default_schema(self) -> str:
        return "main"

    def duckdb_dsn(self, root: Path, name: str) -> str:
        path = Path(self.path) if Path(self.path).is_absolute() else root / self.path
        if not path.is_file():
            from towpath.config.project import field_error

            raise field_error(root, ("connections", name, "path"), f"the SQLite file {path} does not exist")
        return str(path)


class KvTable(Spec):
    """One KV namespace exposed as a table: its key columns, then its value columns, decoded."""

    namespace: str | None = None
    """The namespace or alias in the store (default: the table's name); an alias is resolved per query."""
    schema_: str = Field(alias="schema")
    """The namespace's generated protobuf schema as JSON (`ProtoSchema.to_json()`, what `towpath move`
    records), project-relative or absolute."""


class KvConnection(ConnectionSpec):
    """A towpath KV store: each of its `tables` reads as the key columns and the decoded value columns.

    A join on the key columns looks the keys up (`get_many`); anything else scans the namespace.
    """

    kind: ClassVar[ConnectionKind] = "kv"
    type: Literal["kv"]
    url: str = "embedded"
    """What `towpath.kv.open_store` opens: `embedded` (the project's `.towpath/kv/`), `redis://...`,
    `postgresql://...`, or the KV service at `http://...` / `grpc://...`."""
    token: Secret | None = None
    """The KV service's token, if it asks for one."""
    tables: dict[str, KvTable] = Field(default_factory=dict)
    """SQL table name -> namespace: `SELECT ... FROM <connection>.<table>`."""

    def token_value(self, root: Path, name: str) -> str | None:
        return self.token.reveal(root, ("connections", name, "token")) if self.token else None


class IcebergConnection(ConnectionSpec):
    """Another Iceberg catalog (the project's own is always there: `namespace.table`)."""

    kind: ClassVar[ConnectionKind] = "iceberg"
    type: Literal["iceberg"]
    catalog: dict[str, Any] = Field(default_factory=dict)
    """The catalog block as in `towpath.yaml` (`type: sql|rest`, `uri`, `properties`)."""
    warehouse: str | None = None


def _libpq_quote(value: str) -> str:
    """A libpq keyword value: quoted when it holds blanks, quotes or backslashes."""
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


CONNECTION_TYPES: Registry[type[ConnectionSpec]] = Registry("connection type", group="towpath.connection_types")
"""Every connection `type` by name: one registration per kind (`mysql`/`mariadb` share a model)."""
for _name, _model in {
    "postgres": "PostgresConnection", "mysql": "MySqlConnection",
    "mariadb": "MySqlConnection", "sqlite": "SqliteConnection", "kv": "KvConnection", "iceberg": "IcebergConnection",
}.items():
    CONNECTION_TYPES.register(_name, f"towpath.config.connections:{_model}")


@cache
def _union() -> Any:
    return tagged_union(
        {name: model for name, model in CONNECTION_TYPES.items()}, suffix="connection",
        error_type="invalid_connection_type",
        message=f"expected a connection type: {', '.join(CONNECTION_TYPES.names())}",
    )


def _pick(data: Any) -> type[ConnectionSpec] | None:
    kind = data.get("type") if isinstance(data, dict) else None
    return CONNECTION_TYPES.get(kind) if isinstance(kind, str) and kind in CONNECTION_TYPES else None


Connection = Annotated[ConnectionSpec, RegisteredUnion(_union, _pick)]
"""One entry of `connections:`, validated as the model its `type` names."""
