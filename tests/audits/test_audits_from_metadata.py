"""Counting audits over whole partitions are answered from Iceberg metadata, with the query's answer.

Each case runs the audits twice on a real catalog and DuckDB engine: through
`Engine.file_counts` and through SQL alone. Results must be identical; the
engine's query log says which audits read rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import DateType, LongType, NestedField, StringType

from towpath.audits import AuditResult, run_audits
from towpath.catalog import Catalog, create_branch
from towpath.config.project import EngineConfig, ProjectConfig
from towpath.engines import get_engine
from towpath.engines.duckdb import DuckDBEngine
from towpath.errors import AuditError

SCHEMA = Schema(
    NestedField(1, "date", DateType(), required=False),
    NestedField(2, "country_code", StringType(), required=False),
    NestedField(3, "title_id", LongType(), required=False),
)
BY_DATE = PartitionSpec(PartitionField(1, 1000, IdentityTransform(), "date"))
D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)
TABLE = "db.titles"


def rows(day: dt.date, countries: list[str | None], titles: list[int | None]) -> pa.Table:
    return pa.table({
        "date": pa.array([day] * len(titles), pa.date32()),
        "country_code": pa.array(countries, pa.string()),
        "title_id": pa.array(titles, pa.int64()),
    })


class Audited:
    """A catalog table and an engine; runs audits with and without metadata and logs the queries."""

    def __init__(self, catalog: Catalog, engine: DuckDBEngine) -> None:
        self.catalog, self.engine = catalog, engine
        self.queries: list[str] = []

    def run(self, *audits: dict[str, Any], refs: dict[str, str] | None = None,
            metadata: bool = True) -> list[AuditResult]:
        def query(sql: str) -> pa.Table:
            self.queries.append(sql)
            return self.engine.query(sql, dialect="duckdb", refs=refs)

        def file_counts(table: str, where: Any) -> Any:
            return self.engine.file_counts(table, where, refs=refs)

        self.queries.clear()
        return run_audits(list(audits), query, default_table=TABLE, file_counts=file_counts if metadata else None)

    def both(self, *audits: dict[str, Any], refs: dict[str, str] | None = None) -> tuple[list[AuditResult], int]:
        """The results through metadata (asserted equal to SQL's), and how many queries they ran."""
        expected = self.run(*audits, refs=refs, metadata=False)
        got = self.run(*audits, refs=refs)
        assert got == expected
        return got, len(self.queries)


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[Audited]:
    catalog = Catalog.open(ProjectConfig(), tmp_path)
    catalog.ensure_namespace("db")
    catalog.iceberg.create_table(TABLE, SCHEMA, partition_spec=BY_DATE)
    catalog.write(TABLE, rows(D1, ["US", "CA", "US"], [1, 2, 3]))
    catalog.write(TABLE, rows(D2, ["US", "CA", None, None], [1, None, 3, 4]))
    catalog.write(TABLE, rows(D2, ["BR"], [5]))  # a partition of two files
    engine = get_engine(EngineConfig(threads=2), catalog)
    assert isinstance(engine, DuckDBEngine)
    yield Audited(catalog, engine)
    engine.close()


def audit(function: str, **params: Any) -> dict[str, Any]:
    return {"function": function, "params": params}


def on(day: dt.date) -> str:
    return f"date = DATE '{day.isoformat()}'"


def test_counting_audits_on_a_partition_read_no_rows(audited: Audited) -> None:
    results, queries = audited.both(
        audit("table_should_not_be_empty", where=on(D2)),
        audit("row_count_between", where=on(D2), min=1, max=10),
        audit("columns_should_not_have_nulls", where=on(D2), columns=["date", "title_id"]),
        audit("row_count_change_within", percent=100, partition_column="date", partition_value=D2.isoformat()),
    )
    assert [r.passed for r in results] == [True, True, False, True]
    assert results[2].failing_rows == 1  # 1 NULL title_id; the sample is the only query
    assert queries == 1


def test_failing_counts_come_from_metadata_and_samples_from_rows(audited: Audited) -> None:
    results, queries = audited.both(
        audit("table_should_not_be_empty", where=on(D3)),
        audit("row_count_between", where=on(D1), min=5),
        audit("row_count_change_within", percent=20, partition_column="date", partition_value=D2.isoformat()),
    )
    assert [(r.passed, r.failing_rows) for r in results] == [(False, 1), (False, 1), (False, 1)]
    assert "+66.7% against 3" in results[2].message  # 5 rows against 3, told by the sample query
    assert queries == 3


def test_a_first_partition_has_no_earlier_one_to_compare(audited: Audited) -> None:
    results, queries = audited.both(
        audit("row_count_change_within", percent=1, partition_column="date", partition_value=D1.isoformat()),
    )
    assert results[0].passed and queries == 0


@pytest.mark.parametrize("where", [
    "country_code = 'US'",           # not a partition column: the files hold other rows too
    "date <> DATE '2024-01-01'",     # SQL drops NULLs there, a partition residual would not
    "date = DATE '2024-01-02' OR title_id > 1",  # some of 2024-01-01's rows
])
def test_conditions_not_on_whole_files_are_counted_by_the_query(audited: Audited, where: str) -> None:
    _, queries = audited.both(audit("row_count_between", where=where, min=1, max=2))
    assert queries == 2  # the count and the sample: metadata would have left only the sample


def test_nulls_in_several_columns_may_share_rows_so_the_query_counts_them(audited: Audited) -> None:
    results, queries = audited.both(audit("columns_should_not_have_nulls", where=on(D2), columns=["country_code", "title_id"]))
    assert results[0].failing_rows == 3 and queries == 2  # the count and its sample


def test_a_missing_column_is_still_an_error_on_an_empty_slice(audited: Audited) -> None:
    with pytest.raises(AuditError, match="nope"):
        audited.run(audit("columns_should_not_have_nulls", where=on(D3), columns=["nope"]))


def test_files_without_null_counts_leave_the_count_to_the_query(audited: Audited) -> None:
    audited.catalog.iceberg.create_table("db.bare", SCHEMA, partition_spec=BY_DATE,
                                         properties={"write.metadata.metrics.default": "none"})
    audited.catalog.write("db.bare", rows(D1, ["US", None], [1, 2]))
    results, queries = audited.both(audit("columns_should_not_have_nulls", table="db.bare", where=on(D1), columns=["country_code"]))
    assert results[0].failing_rows == 1 and queries == 2
    results, queries = audited.both(audit("table_should_not_be_empty", table="db.bare", where=on(D1)))
    assert results[0].passed and queries == 0  # row counts are always kept


def test_counts_read_the_audited_branch(audited: Audited) -> None:
    create_branch(audited.catalog, TABLE, "wap")
    audited.catalog.write(TABLE, rows(D3, ["US"], [None]), branch="wap")
    audits = (audit("table_should_not_be_empty", where=on(D3)),
              audit("columns_should_not_have_nulls", where=on(D3), columns=["title_id"]))
    on_main, _ = audited.both(*audits)
    on_branch, queries = audited.both(*audits, refs={TABLE: "wap"})
    assert [r.passed for r in on_main] == [False, True]
    assert [(r.passed, r.failing_rows) for r in on_branch] == [(True, 0), (False, 1)] and queries == 1


def test_a_registered_table_of_the_same_name_is_read_not_the_catalog(audited: Audited) -> None:
    audited.engine.register(TABLE, pa.table({"date": pa.array([], pa.date32())}))
    results, queries = audited.both(audit("table_should_not_be_empty", where=on(D1)))
    assert not results[0].passed and queries == 2


def test_a_null_partition_is_no_earlier_partition(audited: Audited) -> None:
    audited.catalog.write(TABLE, pa.table({
        "date": pa.array([None], pa.date32()), "country_code": ["US"], "title_id": pa.array([9], pa.int64()),
    }))
    results, _ = audited.both(
        audit("row_count_change_within", percent=1, partition_column="date", partition_value=D1.isoformat()),
        audit("table_should_not_be_empty", where="date IS NULL"),
    )
    assert [r.passed for r in results] == [True, True]
