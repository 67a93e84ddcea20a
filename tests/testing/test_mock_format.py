"""The mock format: every Iceberg type reads and writes back exactly; bad mocks say file:line:col, column and row."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from towpath.errors import SpecError
from towpath.testing import MockError, dump_mock, load_mock, parse_mock, parse_type, type_string
from towpath.types import TypeNameError

UTC = dt.UTC

# (Iceberg type, YAML text of a value, the Python value Arrow holds) — one line per fact.
VALUES = [
    ("boolean", "true", True),
    ("int", "-2147483648", -(2**31)),
    ("long", "9223372036854775807", 2**63 - 1),
    ("float", "0.1", pytest.approx(0.1, rel=1e-7)),
    ("double", "0.3333333333333333", 1 / 3),
    ("double", ".nan", None),  # NaN: checked apart below
    ("decimal(10,2)", '"12.50"', decimal.Decimal("12.50")),
    ("decimal(38,10)", '"-0.0000000001"', decimal.Decimal("-0.0000000001")),
    ("date", "2022-01-01", dt.date(2022, 1, 1)),
    ("time", "12:30:00.123456", dt.time(12, 30, 0, 123456)),
    ("timestamp", "2022-01-01T10:00:00.000001", dt.datetime(2022, 1, 1, 10, 0, 0, 1)),
    ("timestamptz", "2022-01-01T12:00:00+02:00", dt.datetime(2022, 1, 1, 10, 0, tzinfo=UTC)),
    ("string", '"true"', "true"),
    ("string", '"héllo, \\"world\\""', 'héllo, "world"'),
    ("uuid", '"123e4567-e89b-12d3-a456-426614174000"', uuid.UUID("123e4567-e89b-12d3-a456-426614174000")),
    ("fixed[3]", '"YWJj"', b"abc"),
    ("binary", '"AP8="', b"\x00\xff"),
    ("list<int>", "[1, null, 3]", [1, None, 3]),
    ("map<string,long>", "{a: 1, b: null}", [("a", 1), ("b", None)]),
    ("map<int,string>", "[[1, x], [2, y]]", [(1, "x"), (2, "y")]),
    ("struct<a:int,b:list<string>>", "{a: 1, b: [x, null]}", {"a": 1, "b": ["x", None]}),
    ("struct<a:int,b:string>", "{a: 1}", {"a": 1, "b": None}),
]


# The Arrow type each Iceberg type loads as, written out (not computed by the code under test).
ARROW_OF = {
    "boolean": pa.bool_(), "int": pa.int32(), "long": pa.int64(), "float": pa.float32(), "double": pa.float64(),
    "decimal(10,2)": pa.decimal128(10, 2), "decimal(38,10)": pa.decimal128(38, 10), "date": pa.date32(),
    "time": pa.time64("us"), "timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", tz="UTC"),
    "string": pa.string(), "uuid": pa.uuid(), "fixed[3]": pa.binary(3), "binary": pa.binary(),
    "list<int>": pa.list_(pa.field("element", pa.int32())), "map<string,long>": pa.map_(pa.string(), pa.int64()),
    "map<int,string>": pa.map_(pa.int32(), pa.string()),
    "struct<a:int,b:list<string>>": pa.struct([("a", pa.int32()), ("b", pa.list_(pa.field("element", pa.string())))]),
    "struct<a:int,b:string>": pa.struct([("a", pa.int32()), ("b", pa.string())]),
}


def mock_text(kind: str, value: str) -> str:
    return f'table: db.t\ncolumns:\n  - {{name: c, type: "{kind}"}}\nrows:\n  - [{value}]\n  - [null]\n'


@pytest.mark.parametrize(("kind", "text", "expected"), VALUES, ids=[f"{k}:{t}" for k, t, _ in VALUES])
def test_value_reads_as_its_declared_type_and_writes_back_identically(kind: str, text: str, expected: object) -> None:
    mock = parse_mock(mock_text(kind, text))
    column = mock.data.column("c")
    assert column.type == ARROW_OF[kind]
    value = column.to_pylist()[0]
    if expected is None:
        assert math.isnan(value)
    else:
        assert value == expected
    assert column.to_pylist()[1] is None
    again = parse_mock(dump_mock(mock.table, mock.columns, mock.data))
    assert again.data.schema == mock.data.schema
    assert repr(again.data.to_pylist()) == repr(mock.data.to_pylist())  # repr: NaN == NaN here


@pytest.mark.parametrize(
    "kind", ["boolean", "decimal(10,2)", "fixed[16]", "list<map<string,struct<x:int>>>", "struct<a:int,b:timestamptz>"]
)
def test_type_strings_print_as_they_parse(kind: str) -> None:
    assert type_string(parse_type(kind)) == kind


def test_type_strings_tolerate_spaces_and_case() -> None:
    assert type_string(parse_type("Map< String , LIST<int> >")) == "map<string,list<int>>"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("integer", "unknown type 'integer'; expected one of: binary, boolean, date"),
        ("list<int", "type 'list<int' ends too early"),
        ("decimal(40,2)", "decimal precision must be 1-38"),
        ("map<string>", "expected ',' but found '>'"),
    ],
)
def test_bad_type_strings_say_what_was_expected(kind: str, message: str) -> None:
    with pytest.raises(TypeNameError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_type(kind)


def test_dump_quotes_strings_that_yaml_would_read_as_something_else() -> None:
    data = pa.table({"s": ["null", "123", "2022-01-01", "a: b", "plain text", " pad", "yes"]})
    text = dump_mock("db.t", [("s", "string")], data)
    assert '["null"]' in text and '["123"]' in text and "[plain text]" in text
    assert parse_mock(text).data.column("s").to_pylist() == data.column("s").to_pylist()


def test_empty_mock_has_typed_columns() -> None:
    mock = parse_mock("table: db.t\ncolumns:\n  - {name: d, type: date}\nrows: []\n")
    assert mock.data.num_rows == 0 and mock.data.schema.field("d").type == pa.date32()
    assert "rows: []" in dump_mock(mock.table, mock.columns, mock.data)


# -- bad mocks: exact file, line, column and row ------------------------------------------------

GOOD_HEAD = """\
# a comment line
table: some_db.source_table
columns:
  - {name: title_id, type: int}
  - {name: view_hours, type: double}
  - {name: date, type: date}
rows:
  - [1, 1.5, 2022-01-01]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "some_db.source_table.yaml"
    path.write_text(text)
    return path


def error_of(path: Path) -> MockError:
    with pytest.raises(MockError) as info:
        load_mock(path)
    assert isinstance(info.value, SpecError)
    return info.value


def test_value_that_does_not_parse_names_file_line_col_column_row_and_type(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_HEAD + "  - [2, lots, 2022-01-01]\n")
    err = error_of(path)
    assert str(err) == (
        f"{path}:9:9: rows[1].view_hours: expected a number, got 'lots' "
        "(write .nan, .inf or -.inf for special values) (column type double)"
    )
    assert (err.line, err.col, err.column, err.row) == (9, 9, "view_hours", 1)


def test_bad_date_points_at_the_value(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, GOOD_HEAD + "  - [2, 1.0, 2022-02-30]\n"))
    assert (err.line, err.col, err.column, err.row) == (9, 14, "date", 1)
    assert "expected a date like 2022-01-01, got '2022-02-30'" in str(err)


def test_row_with_the_wrong_number_of_values(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_HEAD + "  - [2, 1.0]\n")
    assert str(error_of(path)) == f"{path}:9:5: rows[1]: expected 3 values (title_id, view_hours, date), got 2"


def test_unknown_type_string_names_the_column_entry(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_HEAD.replace("type: double", "type: dubble"))
    err = error_of(path)
    assert str(err).startswith(f"{path}:5:30: columns[1].type: unknown type 'dubble'; expected one of:")
    assert err.column == "view_hours"


def test_malformed_yaml_points_at_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_HEAD + "  - [2, 1.0, 2022-01-01\n  - [3, 1.0, 2022-01-01]\n")
    err = error_of(path)
    assert err.file == path and err.line == 10
    assert "invalid YAML: expected ',' or ']', but got '[' (while parsing a flow sequence started at line 9" in str(err)


def test_missing_and_unknown_keys(tmp_path: Path) -> None:
    assert "missing required key 'columns'" in str(error_of(write(tmp_path, "table: db.t\nrows: []\n")))
    no_rows = "table: db.t\ncolumns:\n  - {name: c, type: int}\n"
    assert "missing required key 'rows' (write 'rows: []' for an empty table)" in str(error_of(write(tmp_path, no_rows)))
    assert "expected a list of rows ('rows: []' for an empty table), got nothing" in str(
        error_of(write(tmp_path, no_rows + "rows:\n")))
    err = error_of(write(tmp_path, GOOD_HEAD.replace("rows:", "rowz:")))
    assert (err.line, "unknown key 'rowz'; did you mean 'rows'?") == (7, err.msg)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("int", "3000000000", "3000000000 is out of range for int"),
        ("decimal(10,2)", "1.25", 'expected a decimal as a string like "12.50", got 1.25 (a YAML float would be rounded)'),
        ("decimal(10,2)", '"1.234"', "'1.234' has more than 2 decimal places"),
        ("timestamptz", "2022-01-01T10:00:00", "expected a timestamp with a UTC offset"),
        ("timestamp", "2022-01-01T10:00:00+01:00", "expected a timestamp without a UTC offset"),
        ("string", "123", 'expected a string, got 123 (quote it: "123")'),
        ("fixed[4]", '"YWJj"', "expected 4 bytes, got 3"),
        ("list<int>", "[1, x]", "[1]: expected an integer, got 'x'"),
        ("struct<a:int>", "{b: 1}", "unknown struct field 'b'; fields: a"),
        ("map<string,int>", "[[null, 1]]", "map keys cannot be null"),
    ],
)
def test_values_that_do_not_fit_their_type(kind: str, value: str, message: str) -> None:
    with pytest.raises(MockError) as info:
        parse_mock(mock_text(kind, value), "m.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("m.yaml:5:6: rows[0].c: ")


def test_load_mock_reloads_an_edited_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_HEAD)
    assert load_mock(path).data.num_rows == 1
    path.write_text(GOOD_HEAD + "  - [2, 2.5, 2022-01-02]\n")
    assert load_mock(path).data.num_rows == 2
