"""`towpath.yaml`: where a project's catalog, warehouse, engine and defaults live."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from towpath.config.base import Spec, load_spec
from towpath.errors import ParameterError, SpecError

PROJECT_FILE = "towpath.yaml"
STATE_DIR = ".towpath"


class SqlCatalogConfig(Spec):
    type: Literal["sql"] = "sql"
    uri: str = f"sqlite:///{STATE_DIR}/catalog.db"
    """SQLAlchemy URI of the catalog database: SQLite (default) or `postgresql+psycopg2://...`."""
    properties: dict[str, str] = Field(default_factory=dict)
    """Extra pyiceberg catalog properties (e.g. `s3.endpoint`)."""


class RestCatalogConfig(Spec):
    type: Literal["rest"]
    uri: str
    """Base URL of an Iceberg REST catalog."""
    properties: dict[str, str] = Field(default_factory=dict)


CatalogConfig = Annotated[SqlCatalogConfig | RestCatalogConfig, Field(discriminator="type")]


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
    engine: EngineConfig = EngineConfig()
    dialect: str = "spark"
    """Default SQL dialect of job scripts; sqlglot transpiles it to the engine's."""
    timezone: str = "UTC"
    """Default `${EXECUTION_TIMEZONE}`."""
    state: str = f"{STATE_DIR}/state.db"
    """Where towpath records runs, job runs, audits and its ledgers: a SQLite file (project-relative)
    or a SQLAlchemy URL such as `postgresql://user:password@host/db`."""
    params: dict[str, str] = Field(default_factory=dict)
    """Default parameters for every workflow of the project."""
    notifications: NotificationsConfig = NotificationsConfig()
    snapshot_retention: SnapshotRetentionConfig = SnapshotRetentionConfig()
    """Bound each table's history: every Iceberg commit copies it, so unbounded history slows every write."""
    wap_branch_retention: str | None = "7d"
    """After every WAP publish, drop WAP branches (kept by failed audits) older than this; null keeps them."""

    _branch_age = field_validator("wap_branch_retention")(lambda value: _duration(value))

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
    """Parse `root/towpath.yaml` (an empty file means all defaults)."""
    path = root / PROJECT_FILE
    if path.is_file() and not path.read_text().strip():
        return ProjectConfig()
    return load_spec(ProjectConfig, path)


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
