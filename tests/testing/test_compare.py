"""assert_rows_equal: order-insensitive, float-tolerant, and a failure says which rows and columns differ."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from towpath.testing import assert_rows_equal, parse_mock

EXPECTED = pa.table({"id": pa.array([1, 2, 3], pa.int32()), "name": ["a", "b", "c"], "hours": [1.0, 2.5, 0.1 + 0.2]})


def failure(actual: pa.Table, expected: object = EXPECTED, **kwargs: object) -> str:
    with pytest.raises(AssertionError) as info:
        assert_rows_equal(actual, expected, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_same_rows_in_another_order_are_equal() -> None:
    assert_rows_equal(EXPECTED.take([2, 0, 1]), EXPECTED)


def test_order_matters_when_asked() -> None:
    message = failure(EXPECTED.take([1, 0, 2]), ignore_order=False)
    assert "row 0: {id: 2, name: 'b', hours: 2.5}\n      expected {id: 1, name: 'a', hours: 1.0}" in message


def test_floats_match_within_tolerance_only() -> None:
    assert_rows_equal(EXPECTED.set_column(2, "hours", pa.array([1.0, 2.5, 0.3])), EXPECTED)
    message = failure(EXPECTED.set_column(2, "hours", pa.array([1.0, 2.5, 0.31])))
    assert "1 missing (expected but not in actual):\n    {id: 3, name: 'c', hours: 0.30000000000000004}" in message
    assert "1 unexpected (in actual only):\n    {id: 3, name: 'c', hours: 0.31}" in message
    assert_rows_equal(EXPECTED.set_column(2, "hours", pa.array([1.0, 2.5, 0.31])), EXPECTED, abs_tol=0.02)


def test_missing_and_unexpected_rows_are_listed() -> None:
    actual = pa.table({"id": pa.array([1, 4], pa.int32()), "name": ["a", "d"], "hours": [1.0, 4.0]})
    message = failure(actual)
    assert message.startswith("rows vs expected: rows differ (actual 2 rows, expected 3)")
    assert "2 missing (expected but not in actual):\n    {id: 2, name: 'b', hours: 2.5}\n    {id: 3," in message
    assert "1 unexpected (in actual only):\n    {id: 4, name: 'd', hours: 4.0}" in message


def test_duplicates_count() -> None:
    message = failure(pa.concat_tables([EXPECTED, EXPECTED.slice(0, 1)]))
    assert "1 unexpected (in actual only):\n    {id: 1, name: 'a', hours: 1.0}" in message


def test_rows_matched_by_key_show_the_differing_columns() -> None:
    actual = EXPECTED.set_column(1, "name", pa.array(["a", "B", "c"])).set_column(2, "hours", pa.array([1.0, 9.0, 0.3]))
    message = failure(actual, key=["id"])
    assert "1 rows with the same id differ:\n    id=2: name: 'B' != expected 'b', hours: 9.0 != expected 2.5" in message
    assert "missing" not in message and "unexpected" not in message


def test_column_names_and_types_are_checked_first() -> None:
    assert "columns ['name'] are missing from the actual rows" in failure(EXPECTED.drop_columns(["name"]))
    assert "unexpected columns ['extra']" in failure(EXPECTED.append_column("extra", pa.array([1, 2, 3])))
    widened = EXPECTED.set_column(0, "id", EXPECTED["id"].cast(pa.int64()))
    assert "column 'id' has type int64, expected int32" in failure(widened)
    assert_rows_equal(widened, EXPECTED, check_types=False)


def test_large_string_from_the_catalog_equals_a_mock_string() -> None:
    assert_rows_equal(EXPECTED.set_column(1, "name", EXPECTED["name"].cast(pa.large_string())), EXPECTED)


def test_only_some_columns() -> None:
    assert_rows_equal(EXPECTED.set_column(1, "name", pa.array(["x", "y", "z"])), EXPECTED, columns=["id", "hours"])


def test_long_diffs_are_cut_to_ten_rows() -> None:
    big = pa.table({"id": pa.array(range(25), pa.int32())})
    message = failure(big, pa.table({"id": pa.array([], pa.int32())}))
    assert "25 unexpected" in message and "... and 15 more" in message and message.count("{id:") == 10


def test_expected_may_be_a_mock_or_its_file(tmp_path: Path) -> None:
    text = "table: db.t\ncolumns:\n  - {name: id, type: int}\n  - {name: name, type: string}\nrows:\n  - [1, a]\n"
    path = tmp_path / "db.t.yaml"
    path.write_text(text)
    actual = pa.table({"id": pa.array([1], pa.int32()), "name": ["a"]})
    assert_rows_equal(actual, path)
    assert_rows_equal(actual, parse_mock(text))
    message = failure(pa.table({"id": pa.array([2], pa.int32()), "name": ["a"]}), path)
    assert message.startswith(f"rows of db.t vs {path}: rows differ")


def test_nested_values_compare_with_tolerance() -> None:
    kind = pa.struct([("x", pa.float64()), ("tags", pa.list_(pa.string()))])
    expected = pa.table({"s": pa.array([{"x": 0.3, "tags": ["a"]}], kind)})
    assert_rows_equal(pa.table({"s": pa.array([{"x": 0.1 + 0.2, "tags": ["a"]}], kind)}), expected)
    assert "unexpected" in failure(pa.table({"s": pa.array([{"x": 0.3, "tags": ["b"]}], kind)}), expected)
