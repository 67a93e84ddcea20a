"""Unit test of src/pyspark_write.py on mocks, on a local Spark session (needs pyspark and Java 17).

Run it from the sample folder with `towpath project test` or `pytest src`. The Spark
session starts once per test run (a few seconds); the mocks in src/mocks are the source
table's rows and the expected output, loaded with towpath's mock reader.
"""

import datetime as dt
import importlib.util
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from towpath.testing import assert_rows_equal, load_mock

SAMPLE = Path(__file__).resolve().parent.parent
MOCKS = SAMPLE / "src" / "mocks"
SOURCE = MOCKS / "{{source_table}}.yaml"
EXPECTED = MOCKS / "{{target_db}}.{{target_table}}.yaml"
PARAMS = {"TARGET_DB": "{{target_db}}", "TARGET_TABLE": "{{target_table}}", "SOURCE_TABLE": "{{source_table}}"}


def _transform() -> Any:
    spec = importlib.util.spec_from_file_location("pyspark_write", SAMPLE / "src" / "pyspark_write.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.transform


@dataclass
class MockContext:
    """The part of towpath's job context a pyspark transform uses: `params` and `table(name)`."""

    spark: Any
    params: Mapping[str, str]
    tables: Mapping[str, Any]

    def table(self, name: str) -> Any:
        return self.tables[name]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("unit-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.mark.parametrize("date", ["2022-01-01", "2022-01-02"])
def test_top_titles_per_country_for_one_day(spark: Any, date: str) -> None:
    source = load_mock(SOURCE)
    ctx = MockContext(spark, {**PARAMS, "DATE": date}, {source.table: spark.createDataFrame(source.data)})
    result = _transform()(ctx).toArrow()
    expected = load_mock(EXPECTED).data
    assert_rows_equal(result, expected.filter(pc.equal(expected["date"], dt.date.fromisoformat(date))))
