"""`towpath.yaml`: where a project's catalog, warehouse, engine and defaults live.

Every value is checked where it is read, so a typo is a `SpecError` at
`towpath.yaml:line:column`, never a half-opened project: an unknown time zone,
a catalog URI that is not a SQLAlchemy URL (or an http(s) URL for REST), a
warehouse URI with an unknown or malformed scheme (`s3//bucket` would otherwise
become a local folder called `s3`), a warehouse path that is a file. Names that
registries resolve (the engine, the SQL dialect) are checked by the rooms that
own them when a run starts, at the same file:line:column (`field_error`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator

from towpath.config._yaml import load_yaml
from towpath.config.base import Spec, invalid, load_spec
from towpath.config.connections import Connection
from towpath.errors import ParameterError, SpecError

PROJECT_FILE = "towpath.yaml"
STATE_DIR = ".towpath"


WAREHOUSE_SCHEMES = ("s3", "s3a", "s3n", "gs", "gcs", "abfs", "abfss", "wasb", "wasbs", "hdfs", "oss", "file")
"""URI schemes pyiceberg's file IO can hold a warehouse on."""

_SQL_CATALOG_DRIVERS = ("sqlite", "postgresql")
"""Databases pyiceberg's SQL catalog runs on (any SQLAlchemy driver of them)."""

_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$")
_URI_TYPO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+)(:/(?!/)|//|:\\\\)")
"""`s3//bucket`, `s3:/bucket`, `s3:\\bucket`: meant as a URI, read as a relative path."""


class SqlCatalogConfig(Spec):
    type: Literal["sql"] = "sql"
    uri: str = f"sqlite:///{STATE_DIR}/catalog.db"
    """SQLAlchemy URI of the catalog database: SQLite (default) or `postgresql+psycopg2://...`."""
    properties: dict[str, str] = Field(default_factory=dict)
    """Extra pyiceberg catalog properties (e.g. `s3.endpoint`)."""

    @field_validator("uri")
    @classmethod
    def _sqlalchemy_url(cls, value: str) -> str:
        match = _URI.match(value.strip())
        driver = match.group("scheme").split("+")[0].lower() if match else ""
        if driver not in _SQL_CATALOG_DRIVERS:
            raise invalid("expected a SQLAlchemy URL of SQLite or PostgreSQL (sqlite:///path/catalog.db, "
                          "postgresql+psycopg2://user:pass@host/db)")
        return value


class RestCatalogConfig(Spec):
    type: Literal["rest"]
    uri: str
    """Base URL of an Iceberg REST catalog."""
    properties: dict[str, str] = Field(default_factory=dict)
    """Extra pyiceberg REST catalog properties (e.g. `credential`, `warehouse`, `s3.endpoint`)."""

    @field_validator("uri")
    @classmethod
    def _http_url(cls, value: str) -> str:
        match = _URI.match(value.strip())
        if not match or match.group("scheme").lower() not in ("http", "https") or not match.group("rest").strip("/"):
            raise invalid("expected the REST catalog's http(s) URL, e.g. https://catalog.example.com")
        return value


def _catalog_type(data: Any) -> str:
    """`type` picks the catalog model; without one it is the default SQL catalog."""
    kind = data.get("type", "sql") if isinstance(data, dict) else getattr(data, "type", "sql")
    return str(kind)


CatalogConfig = Annotated[
    Annotated[SqlCatalogConfig, Tag("sql")] | Annotated[RestCatalogConfig, Tag("rest")],
    Discriminator(_catalog_type, custom_error_type="invalid_catalog_type",
                  custom_error_message="expected catalog type 'sql' or 'rest'"),
]


class SparkConfig(Spec):
    master: str = "local[*]"
    """Spark master URL; `local[*]` runs in-process on every core."""
    conf: dict[str, str] = Field(default_factory=dict)


class EngineConfig(Spec):
    type: str = "duckdb"
    """Engine name from the registry: `duckdb` (default, embedded) or `spark`."""
    threads: int | None = None
    """DuckDB worker threads (default: all cores)."""
    memory_limit: str | None = None
    """DuckDB memory limit, e.g. `2GB`."""
    spark: SparkConfig = SparkConfig()


class NotificationsConfig(Spec):
    webhook: str | None = None
    """URL that receives a JSON POST when a daily or backfill run fails."""


class ProjectNotificationsConfig(NotificationsConfig):
    """`notifications:` of `towpath.yaml`: the channels every notice goes through, and who owners are."""

    channels: list[dict[str, Any]] = Field(default_factory=list)
    """Channels by `type` (`smtp`, `webhook`, `file`, `log`, or a plugin's), each with its own params
    and optional `events:` (the notice kinds it receives: `failure`, `migration`, `alert`, ...).
    The notify room validates each entry against its type's params model, at its file:line."""
    owners: dict[str, list[str]] = Field(default_factory=dict)
    """Team aliases -> addresses: an `owner: data-eng` in table metadata or a workflow is told at these."""


class OpenLineageConfig(Spec):
    """`openlineage:` of `towpath.yaml`: every run emits OpenLineage events through this transport."""

    transport: dict[str, Any]
    """The openlineage-python client's transport config: `{type: file, log_file_path: lineage.jsonl}`,
    `{type: console}`, `{type: http, url: http://localhost:5000}` (Marquez), ..."""
    namespace: str = "towpath"
    """Namespace of the jobs (`<workflow>` and `<workflow>.<job>`)."""
    dataset_namespace: str | None = None
    """Namespace of the catalog's tables (default `iceberg://<project name>`)."""


def _duration(value: str | None) -> str | None:
    """A `7d` / `36h` / `30m` duration, checked (None passes: "keep everything")."""
    from towpath.config.params import parse_duration

    if value is not None:
        try:
            parse_duration(value)
        except ParameterError as err:
            raise ValueError(err.msg) from None
    return value


class SnapshotRetentionConfig(Spec):
    max_age: str | None = "7d"
    """After every WAP publish, forget snapshots older than this (e.g. `7d`, `36h`); null keeps all."""
    retain_last: int = Field(default=10, ge=1)
    """Recent snapshots of `main` kept whatever their age (time travel and rollback reach these)."""

    _max_age = field_validator("max_age")(lambda value: _duration(value))


class ProjectConfig(Spec):
    """The parsed `towpath.yaml` of a project folder."""

    name: str = "towpath-project"
    catalog: CatalogConfig = SqlCatalogConfig()
    warehouse: str = f"{STATE_DIR}/warehouse"
    """Folder or `s3://bucket/prefix` where table data and metadata live."""

    @field_validator("warehouse")
    @classmethod
    def _warehouse(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise invalid("expected a folder or a URI like s3://bucket/prefix, got an empty value")
        match = _URI.match(text)
        if match:
            scheme = match.group("scheme").lower()
            if scheme not in WAREHOUSE_SCHEMES:
                raise invalid(f"unknown warehouse URI scheme '{scheme}://' (expected a folder or one of: "
                              f"{', '.join(s + '://' for s in WAREHOUSE_SCHEMES)})")
            if scheme != "file" and not match.group("rest").split("/")[0]:
                raise invalid(f"the warehouse URI names no bucket (expected {scheme}://bucket/prefix)")
            return value
        typo = _URI_TYPO.match(text)
        if typo and typo.group("scheme").lower() in WAREHOUSE_SCHEMES:
            raise invalid(f"this looks like a mistyped URI (expected {typo.group('scheme')}://...); "
                          "write ./name for a local folder of that name")
        return value
    engine: EngineConfig = EngineConfig()
    dialect: str = "spark"
    """Default SQL dialect of job scripts; sqlglot transpiles it to the engine's."""
    timezone: str = "UTC"
    """Default `${EXECUTION_TIMEZONE}`."""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid("unknown time zone (expected an IANA name like 'UTC' or 'Europe/Berlin')") from None
        return value
    state: str = f"{STATE_DIR}/state.db"
    """Where towpath records runs, job runs, audits and its ledgers: a SQLite file (project-relative)
    or a SQLAlchemy URL such as `postgresql://user:password@host/db`."""
    params: dict[str, str] = Field(default_factory=dict)
    """Default parameters for every workflow of the project."""
    notifications: ProjectNotificationsConfig = ProjectNotificationsConfig()
    openlineage: OpenLineageConfig | None = None
    """Where runs send OpenLineage events (none by default)."""
    snapshot_retention: SnapshotRetentionConfig = SnapshotRetentionConfig()
    """Bound each table's history: every Iceberg commit copies it, so unbounded history slows every write."""
    wap_branch_retention: str | None = "7d"
    """After every WAP publish, drop WAP branches (kept by failed audits) older than this; null keeps them."""

    _branch_age = field_validator("wap_branch_retention")(lambda value: _duration(value))
    connections: dict[str, Connection] = Field(default_factory=dict)
    """Databases, KV stores and catalogs `towpath query` joins with the lake, by the name SQL uses
    (`SELECT ... FROM ehr.patients`); see docs/query.md. Secrets come from `{env: VAR}` or `{file: PATH}`."""

    @field_validator("connections")
    @classmethod
    def _connection_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise invalid(f"connection name {name!r} must be a SQL identifier (letters, digits, _)")
        return value

    def resolve(self, root: Path, value: str) -> str:
        """Resolve a project-relative path or URI against the project folder."""
        if "://" in value:
            scheme, _, rest = value.partition("://")
            if scheme.startswith("sqlite") and rest.startswith("/") and not rest.startswith("//"):
                # sqlite:///relative/path -> absolute under the project
                rel = rest[1:]
                if not Path(rel).is_absolute() and not rel.startswith("/"):
                    return f"{scheme}:///{(root / rel).resolve()}"
            return value
        path = Path(value)
        return str(path if path.is_absolute() else (root / path).resolve())


def find_project_root(start: Path | str = ".") -> Path:
    """The nearest folder at or above `start` holding `towpath.yaml`."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise SpecError(
        f"no {PROJECT_FILE} found in {here} or any parent folder; create one with `towpath project init`",
    )


def load_project_config(root: Path) -> ProjectConfig:
    """Parse `root/towpath.yaml` (an empty file means all defaults).

    Raises:
        SpecError: a value is wrong (at its file:line:column); `SpecErrors` for several.
    """
    path = root / PROJECT_FILE
    if path.is_file() and not path.read_text().strip():
        return ProjectConfig()
    config = load_spec(ProjectConfig, path)
    warehouse = Path(config.resolve(root, config.warehouse))
    if "://" not in config.warehouse and warehouse.is_file():
        raise field_error(root, ("warehouse",), f"{warehouse} is a file; the warehouse must be a folder (or s3://...)")
    return config


def field_error(root: Path, loc: tuple[int | str, ...], msg: str) -> SpecError:
    """A problem with the value at `loc` of `root/towpath.yaml`, at its file:line:column.

    For checks other rooms make once they resolve a name (`engine.type` against the
    engine registry, `dialect` against sqlglot's).
    """
    from towpath.config.base import dotted

    path = root / PROJECT_FILE
    line, col = load_yaml(path).locate(loc) if path.is_file() else (None, None)
    return SpecError(msg, file=path if path.is_file() else None, line=line, col=col, field=dotted(loc))


DEFAULT_PROJECT_YAML = """\
# towpath project. Every key is optional; these are the defaults.
name: {name}
catalog:
  type: sql                                 # sql (SQLite or Postgres URI) | rest
  uri: sqlite:///.towpath/catalog.db
warehouse: .towpath/warehouse               # a folder or s3://bucket/prefix
engine:
  type: duckdb                              # duckdb (embedded) | spark
dialect: spark                              # dialect of job SQL, transpiled to the engine's
timezone: UTC
params: {{}}
"""
