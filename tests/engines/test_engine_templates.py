"""A query text binds again from its kept template: the SQL `bind` would make, for today's files."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest
from engine_tables import source_rows

from towpath.catalog import Catalog
from towpath.engines.duckdb import DuckDBEngine
from towpath.engines.script import parse_script
from towpath.engines.templates import build
from towpath.sql import ALIASES_PROPERTY, ColumnAlias, with_alias

QUERY = """
WITH us AS (SELECT title_id, SUM(view_hours) AS hours FROM some_db.source_table AS s
            WHERE s.date = '2022-01-02' AND country_code = 'US' GROUP BY title_id)
SELECT COUNT(*) AS titles, SUM(hours) AS hours FROM us JOIN some_db.source_table t ON t.title_id = us.title_id
WHERE t.date >= '2022-01-01'
"""


@pytest.fixture
def engine(duckdb_engine: DuckDBEngine) -> DuckDBEngine:
    return duckdb_engine


def executed(engine: DuckDBEngine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    ran: list[str] = []
    original = engine._execute

    def recording(session: Any, sql: str, *args: Any) -> pa.Table:
        ran.append(sql)
        return original(session, sql, *args)

    monkeypatch.setattr(engine, "_execute", recording)
    return ran


def test_the_template_gives_binds_sql_and_plans_each_call_afresh(
    engine: DuckDBEngine, catalog: Catalog, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = executed(engine, monkeypatch)
    first = engine.query(QUERY).to_pylist()
    [tree] = [s.expression for s in parse_script(QUERY)]
    assert ran[0] == engine._bind_query(tree, {}, None, 1, record=False)[1]  # what `bind` makes of it
    assert [len(s.files) for s in engine.scans] == [2, 1]  # the join reads both dates, the CTE one

    monkeypatch.setattr(engine, "bind", lambda *a: pytest.fail("bound again"))
    catalog.write(source, source_rows(days=1, start=dt.date(2022, 1, 3)), "append")
    again = engine.query(QUERY).to_pylist()
    assert [len(s.files) for s in engine.scans[2:]] == [3, 1]  # the new day's file is planned
    assert ran[1] != ran[0] and again != first


def test_a_view_or_a_registered_table_of_that_name_is_read_instead(engine: DuckDBEngine, source: str) -> None:
    count = "SELECT COUNT(*) AS n FROM some_db.source_table"
    assert engine.query(count).column("n").to_pylist() == [18]
    engine.register("some_db.source_table", pa.table({"title_id": ["x"]}))
    assert engine.query(count).column("n").to_pylist() == [1]


def test_a_renamed_column_read_by_its_old_name_still_binds_through_the_alias(
    engine: DuckDBEngine, catalog: Catalog, source: str, caplog: pytest.LogCaptureFixture
) -> None:
    query = "SELECT SUM(view_hours) AS hours FROM some_db.source_table WHERE date = '2022-01-01'"
    assert engine.query(query).column("hours").to_pylist() == [137.0]
    with catalog.table(source).update_schema() as update:
        update.rename_column("view_hours", "hours_viewed")
    alias = ColumnAlias(source, "view_hours", "hours_viewed", "m-1", "2099-01-31")
    with catalog.table(source).transaction() as txn:
        txn.set_properties({ALIASES_PROPERTY: with_alias({}, alias)})
    assert engine.query(query).column("hours").to_pylist() == [137.0]
    assert "column 'view_hours' of some_db.source_table was renamed to 'hours_viewed'" in caplog.text


def test_only_catalog_tables_and_ctes_get_a_template() -> None:
    def template_of(sql: str) -> object:
        [statement] = parse_script(sql)
        return build(statement.expression, "duckdb", statement.line)

    assert template_of("SELECT * FROM db.t JOIN db.u USING (k)") is not None
    assert template_of("WITH c AS (SELECT 1 AS k) SELECT * FROM c") is not None
    assert template_of("SELECT * FROM a_view") is None  # a view or a registered name: bind resolves it
    assert template_of("SELECT '__towpath_slot_0__' AS s FROM db.t") is None  # a literal spelling a marker


def test_a_script_statement_binds_from_its_template_and_its_parse_is_left_as_it_was(
    engine: DuckDBEngine, catalog: Catalog, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script's trees are the kept parse (not copies): running it twice binds the INSERT's SELECT once."""
    script = (
        "CREATE TABLE IF NOT EXISTS some_db.daily_hours (title_id STRING, hours DOUBLE) USING iceberg;\n"
        "INSERT OVERWRITE TABLE some_db.daily_hours SELECT title_id, SUM(view_hours) AS hours "
        "FROM some_db.source_table WHERE date = '2022-01-01' GROUP BY title_id"
    )
    [_, insert] = parse_script(script, shared=True)
    printed = insert.expression.sql()
    first = engine.run_script(script)[1]
    bound = engine._bind_query(insert.expression.expression, {}, None, insert.line, record=False)[1]
    assert first.sql == bound  # the template's SQL is what `bind` makes of the SELECT
    monkeypatch.setattr(engine, "bind", lambda *a: pytest.fail("bound again"))
    catalog.write(source, source_rows(days=1, start=dt.date(2022, 1, 1)), "append")  # a new file of the day
    again = engine.run_script(script)[1]
    assert again.rows == first.rows and again.sql != first.sql  # the day's new file is planned and read
    assert len(engine.scans[-1].files) == 2
    assert insert.expression.sql() == printed  # the kept tree is unchanged
    day = "SELECT SUM(view_hours) AS h FROM some_db.source_table WHERE date = '2022-01-01' GROUP BY title_id"
    assert sorted(catalog.read("some_db.daily_hours").column("hours").to_pylist()) == sorted(
        engine.query(day).column("h").to_pylist()
    )
