"""Scripts split into statements that remember their line; syntax errors point at the file line."""

from __future__ import annotations

import pytest

from towpath.engines.script import parse_script, split_script
from towpath.errors import SqlError, UnknownNameError


def test_semicolons_in_strings_and_comments_do_not_split() -> None:
    script = "SELECT ';' AS a; -- not; here\n/* nor; here */\nSELECT `x;y` FROM t;\n\n;"
    assert split_script(script) == [("SELECT ';' AS a", 1), ("SELECT `x;y` FROM t", 3)]


def test_each_statement_starts_on_its_first_token_line() -> None:
    script = "-- header\n\nUSE db;\n\n-- step\nINSERT INTO db.t\nSELECT 1;\nSELECT 2"
    assert [(s.line, s.type) for s in parse_script(script)] == [(3, "use"), (6, "insert"), (8, "select")]


@pytest.mark.parametrize(
    "sql, kind",
    [
        ("CREATE TABLE db.t (a INT) USING iceberg", "create_table"),
        ("CREATE OR REPLACE TEMPORARY VIEW v AS SELECT 1", "create_view"),
        ("DROP TABLE IF EXISTS db.t", "drop_table"),
        ("DROP VIEW v", "drop_view"),
        ("INSERT OVERWRITE TABLE db.t PARTITION (date='2022-01-01') SELECT 1", "insert"),
        ("WITH a AS (SELECT 1) SELECT * FROM a", "select"),
        ("SET spark.sql.shuffle.partitions = 4", "set"),
        ("UPDATE db.t SET a = 1", "unsupported"),
        ("CREATE TABLE db.t AS SELECT 1", "unsupported"),
    ],
)
def test_statements_are_classified(sql: str, kind: str) -> None:
    assert parse_script(sql)[0].type == kind


def test_syntax_error_on_line_3_of_a_file_reports_line_3() -> None:
    script = "SELECT 1;\n\nSELECT a, FROM WHERE (;"
    with pytest.raises(SqlError) as info:
        parse_script(script, file="jobs/top.sql")
    assert info.value.line == 3 and str(info.value).startswith("jobs/top.sql:3: syntax error")


def test_syntax_error_inside_a_multiline_statement_reports_the_file_line() -> None:
    script = "SELECT 1;\nSELECT a,\n  b\nFROM t WHERE (x = 1"
    with pytest.raises(SqlError) as info:
        parse_script(script, file="q.sql")
    assert info.value.line == 4


def test_unterminated_string_is_a_sql_error() -> None:
    with pytest.raises(SqlError, match="unterminated"):
        split_script("SELECT 1;\nSELECT 'oops", file="q.sql")


def test_unknown_dialect_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'spark'"):
        split_script("SELECT 1", dialect="sparkk")
