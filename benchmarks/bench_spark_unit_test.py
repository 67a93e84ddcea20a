"""The spark-sql sample's unit test on local Spark, for the "< 1 s on DuckDB" comparison.

The sample's unit test (`src/test_sparksql_write.py`) runs its Spark SQL on DuckDB
through `towpath.testing.run_job`. This benchmark runs the same test through the
same harness on local Spark (`run_job(engine="spark")`, what `towpath project test
--engine spark` does; `local[2]`, the shared session towpath's Spark engine uses).
It reports, in wall time:

- Spark session start (JVM, once per process),
- the first unit-test run on the fresh session (class loading, code generation),
- warm runs (median of N), and the DuckDB harness on the same test for reference.

Usage: python -m benchmarks.bench_spark_unit_test [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
import warnings
from pathlib import Path

DATE = "2022-01-01"


def unit_test(sample: Path, engine: str) -> float:
    """The sample's unit test once, through `towpath.testing.run_job` on `engine`; seconds."""
    import pyarrow.compute as pc

    from towpath.testing import assert_rows_equal, load_mock, run_job

    started = time.perf_counter()
    mocks = sample / "src" / "mocks"
    expected_path = mocks / "foo.dataflow_sample_results.yaml"
    result = run_job("src/sparksql_write.sql", mocks=[mocks / "some_db.source_table.yaml"], base=sample,
                     params={"TARGET_DB": "foo", "TARGET_TABLE": "dataflow_sample_results",
                             "SOURCE_TABLE": "some_db.source_table", "DATE": DATE},
                     dialect="spark", target=expected_path, engine=engine)
    expected = load_mock(expected_path).data
    assert_rows_equal(result, expected.filter(pc.equal(expected["date"], dt.date.fromisoformat(DATE))))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    from towpath.samples import recipe_path

    sample = recipe_path("spark-sql")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyspark 4 on pandas 3
        from towpath.config.project import SparkConfig
        from towpath.engines._spark_session import shared_session

        started = time.perf_counter()
        shared_session(SparkConfig(master="local[2]"))
        session_s = time.perf_counter() - started
    first_s = unit_test(sample, "spark")
    warm = [unit_test(sample, "spark") for _ in range(args.runs)]
    unit_test(sample, "duckdb")  # imports and first-use costs, as pytest pays once per session
    duck = [unit_test(sample, "duckdb") for _ in range(args.runs)]
    print("| spark-sql sample unit test (one date) | wall time |")
    print("| --- | --- |")
    print(f"| Spark local[2]: session start (once per process) | {session_s:.2f} s |")
    print(f"| Spark local[2]: first run on the new session | {first_s:.2f} s |")
    print(f"| Spark local[2]: warm run (median of {args.runs}) | {statistics.median(warm):.2f} s |")
    print(f"| DuckDB harness `run_job` (median of {args.runs}) | {statistics.median(duck) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
