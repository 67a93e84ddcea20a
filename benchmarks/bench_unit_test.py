"""The spark-sql sample's unit test on DuckDB through `towpath.testing.run_job` (target: < 1 s).

The test body is what `src/test_sparksql_write.py` of a generated sample does for
one date: load the source and expected mocks, start a throwaway project (in-memory
SQLite Iceberg catalog, temp warehouse, DuckDB), run the Spark SQL transpiled to
DuckDB, write the output table through the catalog, read it back and compare.
Reported, in wall time:

- imports the first `run_job` of a process needs (the pytest plugin pays them at
  collection, once per session),
- the first test body after those imports (first DuckDB connection, first catalog),
- warm test bodies (median and max of N),
- `pytest src` on the generated sample in a fresh interpreter (2 dates), end to end,
- `towpath sample workflow spark-sql` as a library call.

The same test on local Spark is `bench_spark_unit_test` (both engines through `run_job`).

Usage: python -m benchmarks.bench_unit_test [--runs 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATE = "2022-01-01"
PARAMS = {"TARGET_DB": "foo", "TARGET_TABLE": "dataflow_sample_results", "SOURCE_TABLE": "some_db.source_table"}


def unit_test_body(sample: Path) -> float:
    """One run of the sample's unit test body for `DATE`; seconds."""
    import datetime as dt

    import pyarrow.compute as pc

    from towpath.testing import assert_rows_equal, load_mock, run_job

    started = time.perf_counter()
    mocks = sample / "src" / "mocks"
    expected_path = mocks / "foo.dataflow_sample_results.yaml"
    result = run_job("src/sparksql_write.sql", mocks=[mocks / "some_db.source_table.yaml"], base=sample,
                     params={**PARAMS, "DATE": DATE}, dialect="spark", target=expected_path)
    expected = load_mock(expected_path).data
    assert_rows_equal(result, expected.filter(pc.equal(expected["date"], dt.date.fromisoformat(DATE))))
    return time.perf_counter() - started


def pytest_sample(sample: Path) -> float:
    """`pytest src` in the sample folder, in a new interpreter; seconds (exit code must be 0)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "src"], cwd=sample,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the sample's unit tests failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from towpath.testing.plugin import warm_up

    warm_up()
    imports_s = time.perf_counter() - started

    from towpath.samples import recipe_path

    workdir = Path(tempfile.mkdtemp(prefix="towpath-bench-unit-"))
    try:
        sample = workdir / "sample"
        shutil.copytree(recipe_path("spark-sql"), sample)
        first_s = unit_test_body(sample)
        warm = [unit_test_body(sample) for _ in range(args.runs)]
        pytest_s = pytest_sample(sample)
        from towpath.samples import sample_workflow

        sample_workflow("spark-sql", workdir / "generated-warm")
        generated = []
        for i in range(5):
            t0 = time.perf_counter()
            sample_workflow("spark-sql", workdir / f"generated-{i}")
            generated.append(time.perf_counter() - t0)
        rows = [
            ("`towpath sample workflow spark-sql` (library call, median of 5)",
             f"{statistics.median(generated) * 1000:.0f} ms"),
            ("DuckDB: imports for the first `run_job` (once per pytest session)", f"{imports_s:.2f} s"),
            ("DuckDB: first test body after the imports", f"{first_s * 1000:.0f} ms"),
            (f"DuckDB: warm test body (median of {args.runs})", f"{statistics.median(warm) * 1000:.0f} ms"),
            (f"DuckDB: warm test body (max of {args.runs})", f"{max(warm) * 1000:.0f} ms"),
            ("`pytest src` on the sample (2 dates, new interpreter)", f"{pytest_s:.2f} s"),
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("| spark-sql sample unit test (one date) | wall time |")
    print("| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if max(warm) >= 1.0 or first_s >= 1.0:
        raise SystemExit("target missed: the unit test body must take under 1 s")


if __name__ == "__main__":
    main()
