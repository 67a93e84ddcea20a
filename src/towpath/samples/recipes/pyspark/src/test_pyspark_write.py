"""Unit test of src/pyspark_write.py on mocks, on local Spark (needs pyspark and Java 17).

Run it from the sample folder with `towpath project test` or `pytest src`. `run_job` runs
the transform exactly as a workflow does: a throwaway project whose Spark engine reads the
source mock as a table (`ctx.table(...)`), and the returned DataFrame written to the
expected mock's table through the catalog. The Spark session starts once per test run.
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
        "src/pyspark_write.py:transform",
        mocks=[SOURCE],
        params={**PARAMS, "DATE": date},
        base=SAMPLE,
        target=EXPECTED,  # the DataFrame is written to the expected mock's table, cast to its types
        engine="spark",  # a pyspark job needs the Spark engine
    )
    expected = load_mock(EXPECTED).data
    assert_rows_equal(result, expected.filter(pc.equal(expected["date"], dt.date.fromisoformat(date))))
