"""The spark-sql sample's unit test on local Spark, for the "< 1 s on DuckDB" comparison.

The sample's unit test (`src/test_sparksql_write.py`) runs its Spark SQL on DuckDB
through `towpath.testing.run_job`. This benchmark runs the same script over the same
mocks on local Spark (`local[2]`, the shared session towpath's Spark engine uses):
the source mock is registered with the engine, the output table is created from the
expected mock's columns in a throwaway catalog, the script's INSERT OVERWRITE writes
it, and the written rows are read back and compared with the expected mock, which
is what the unit test does. It reports, in wall time:

- Spark session start (JVM, once per process),
- the first unit-test run on the fresh session (class loading, code generation),
- warm runs (median of N), and the DuckDB harness on the same test for reference.

Usage: python -m benchmarks.bench_spark_unit_test [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

DATE = "2022-01-01"


def spark_unit_test(sample: Path, spark_master: str = "local[2]") -> float:
    """Run the spark-sql sample's unit test once on Spark; returns its wall time in seconds."""
    import pyarrow.compute as pc

    from towpath.config.params import substitute_script
    from towpath.config.project import EngineConfig, ProjectConfig, SparkConfig, SqlCatalogConfig
    from towpath.project import Project
    from towpath.testing import assert_rows_equal, load_mock
    from towpath.testing.harness import job_params

    started = time.perf_counter()
    mocks = sample / "src" / "mocks"
    source = load_mock(mocks / "some_db.source_table.yaml")
    expected = load_mock(mocks / "foo.dataflow_sample_results.yaml")
    root = Path(tempfile.mkdtemp(prefix="towpath-bench-spark-"))
    try:
        project = Project(root, ProjectConfig(
            catalog=SqlCatalogConfig(uri="sqlite://"), warehouse=str(root / "warehouse"),
            engine=EngineConfig(type="spark", spark=SparkConfig(master=spark_master)), state=str(root / "state.db"),
        ))
        project.catalog.ensure_namespace("foo")
        project.catalog.iceberg.create_table(expected.table, expected.data.schema)
        project.engine.register(source.table, source.data)
        params = job_params({"TARGET_DB": "foo", "TARGET_TABLE": "dataflow_sample_results",
                                 "SOURCE_TABLE": source.table, "DATE": DATE})
        script = sample / "src" / "sparksql_write.sql"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Delete operation did not match any records")
            project.engine.run_script(substitute_script(script.read_text(), params, file=script), file=script,
                                      dialect="spark", mode="overwrite")
        written = project.catalog.read(expected.table)
        want = expected.data.filter(pc.equal(expected.data["date"], dt.date.fromisoformat(DATE)))
        assert_rows_equal(written, want)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return time.perf_counter() - started


def duckdb_unit_test(sample: Path) -> float:
    """The same unit test through the DuckDB harness (`towpath.testing.run_job`); seconds."""
    import pyarrow.compute as pc

    from towpath.testing import assert_rows_equal, load_mock, run_job

    started = time.perf_counter()
    mocks = sample / "src" / "mocks"
    expected_path = mocks / "foo.dataflow_sample_results.yaml"
    result = run_job("src/sparksql_write.sql", mocks=[mocks / "some_db.source_table.yaml"], base=sample,
                     params={"TARGET_DB": "foo", "TARGET_TABLE": "dataflow_sample_results",
                             "SOURCE_TABLE": "some_db.source_table", "DATE": DATE},
                     dialect="spark", target=expected_path)
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
    first_s = spark_unit_test(sample)
    warm = [spark_unit_test(sample) for _ in range(args.runs)]
    duckdb_unit_test(sample)  # imports and first-use costs, as pytest pays once per session
    duck = [duckdb_unit_test(sample) for _ in range(args.runs)]
    print("| spark-sql sample unit test (one date) | wall time |")
    print("| --- | --- |")
    print(f"| Spark local[2]: session start (once per process) | {session_s:.2f} s |")
    print(f"| Spark local[2]: first run on the new session | {first_s:.2f} s |")
    print(f"| Spark local[2]: warm run (median of {args.runs}) | {statistics.median(warm):.2f} s |")
    print(f"| DuckDB harness `run_job` (median of {args.runs}) | {statistics.median(duck) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
