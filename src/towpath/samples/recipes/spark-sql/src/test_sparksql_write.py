"""Unit test of src/sparksql_write.sql on mocks: the Spark SQL runs on DuckDB, no Spark needed.

Run it from the sample folder with `towpath project test` or `pytest src`; `towpath project
test --engine spark` runs the same test on local Spark, so you can check that the SQL means
the same on both engines. The mocks are in src/mocks: the source table's rows and the
expected output; change them with the logic.
"""

import datetime as dt
from pathlib import Path

import pyarrow.compute as pc
import pytest

from towpath.testing import assert_rows_equal, load_mock, run_job

SAMPLE = Path(__file__).resolve().parent.parent
MOCKS = SAMPLE / "src" / "mocks"
SOURCE = MOCKS / "{{source_table}}.yaml"
EXPECTED = MOCKS / "{{target_db}}.{{target_table}}.yaml"
PARAMS = {"TARGET_DB": "{{target_db}}", "TARGET_TABLE": "{{target_table}}", "SOURCE_TABLE": "{{source_table}}"}


@pytest.mark.parametrize("date", ["2022-01-01", "2022-01-02"])
def test_top_titles_per_country_for_one_day(date: str) -> None:
    result = run_job(
        "src/sparksql_write.sql",
        mocks=[SOURCE],
        params={**PARAMS, "DATE": date},
        dialect="spark",
        base=SAMPLE,
        target=EXPECTED,  # the output table takes the expected mock's column types
    )
    expected = load_mock(EXPECTED).data
    assert_rows_equal(result, expected.filter(pc.equal(expected["date"], dt.date.fromisoformat(date))))
