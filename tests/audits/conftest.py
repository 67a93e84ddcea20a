"""A real DuckDB database with schema `db`, and the `query` function audits run through."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import duckdb
import pyarrow as pa
import pytest

from towpath.errors import EngineError


class Warehouse:
    """An in-memory DuckDB with helpers to create `db.<name>` from Arrow."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("CREATE SCHEMA db")
        self.queries: list[str] = []

    def create(self, name: str, data: pa.Table) -> str:
        self.con.register("_incoming", data)
        self.con.execute(f"CREATE OR REPLACE TABLE db.{name} AS SELECT * FROM _incoming")
        self.con.unregister("_incoming")
        return f"db.{name}"

    def query(self, sql: str) -> pa.Table:
        """What the runner's engine does: run SQL, return Arrow, map engine errors."""
        self.queries.append(sql)
        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise EngineError(str(exc)) from exc


@pytest.fixture
def wh() -> Iterator[Warehouse]:
    warehouse = Warehouse()
    yield warehouse
    warehouse.con.close()


@pytest.fixture
def query(wh: Warehouse) -> Callable[[str], pa.Table]:
    return wh.query
