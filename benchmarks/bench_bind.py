"""What the engines' binding costs per query: column attribution (`towpath.sql.column_owner`), column
aliases and scan pruning, against pyiceberg planning the same scans with the same filters by hand.

A catalog with `bench.events` (partitioned by day, `--days` days of one file each) and
`bench.users`; three queries — one table with a partition filter, a join whose WHERE
names columns without qualifiers, and a CTE over a subquery. For each, in one run:

* raw: `Catalog.plan_scan` of every table the query reads, with the filter written by
  hand (the planning any engine has to do), plus `sqlglot.parse_one` of the query;
* towpath: `DuckDBEngine.bind` of the parsed query (loads each table once, resolves
  column aliases, attributes every WHERE column to its table, plans each scan).

Times are CPU time of the process (the fastest of `--repeats`), so a loaded machine
disturbs them less than wall time. Run it on two trees in turn to compare two
versions of the binding.

Usage: python -m benchmarks.bench_bind [--days 30] [--repeats 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

QUERIES = {
    "one table, partition filter": (
        "SELECT user_id, SUM(amount) AS total FROM bench.events WHERE day = DATE '2022-01-15' GROUP BY user_id",
        {"bench.events": "day = '2022-01-15'"}),
    "join, unqualified WHERE columns": (
        ("SELECT u.name, e.amount FROM bench.events AS e JOIN bench.users AS u ON e.user_id = u.user_id "
        "WHERE day >= DATE '2022-01-20' AND country = 'NO'"),
        {"bench.events": "day >= '2022-01-20'", "bench.users": "country = 'NO'"}),
    "CTE over a subquery": (
        ("WITH recent AS (SELECT * FROM (SELECT user_id, amount, day FROM bench.events WHERE day > DATE '2022-01-25') s) "
        "SELECT user_id, COUNT(*) AS n FROM recent GROUP BY user_id"),
        {"bench.events": "day > '2022-01-25'"}),
}


def build(root: Path, days: int) -> object:
    import datetime as dt

    import pyarrow as pa

    from towpath.catalog import Catalog, apply_ddl
    from towpath.config.project import ProjectConfig

    catalog = Catalog.open(ProjectConfig(), root)
    apply_ddl(catalog, "CREATE TABLE bench.events (user_id BIGINT, amount DOUBLE, day DATE) PARTITIONED BY (day)")
    apply_ddl(catalog, "CREATE TABLE bench.users (user_id BIGINT, name STRING, country STRING)")
    for d in range(days):
        day = dt.date(2022, 1, 1) + dt.timedelta(days=d)
        catalog.write("bench.events", pa.table({"user_id": pa.array(range(1000), pa.int64()),
                                                "amount": pa.array([1.5] * 1000), "day": pa.array([day] * 1000)}),
                      "dynamic_overwrite")
    catalog.write("bench.users", pa.table({"user_id": pa.array(range(1000), pa.int64()),
                                           "name": [f"u{i}" for i in range(1000)],
                                           "country": ["NO" if i % 2 else "SE" for i in range(1000)]}), "append")
    return catalog


def timed(fn: Callable[[], object], repeats: int) -> float:
    """CPU seconds (every thread of the process) of the cheapest of `repeats` calls: on a shared
    machine, wall time measures the neighbours' load as much as the code."""
    fn()  # warm
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        fn()
        samples.append(time.process_time() - started)
    return min(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)

    import sqlglot
    from pyiceberg.expressions.parser import parse as parse_filter

    from towpath.config.project import EngineConfig
    from towpath.engines.duckdb import DuckDBEngine

    with tempfile.TemporaryDirectory() as folder:
        catalog = build(Path(folder), args.days)
        engine = DuckDBEngine(EngineConfig(threads=2), catalog)  # type: ignore[arg-type]
        print("| query | towpath `bind` (CPU) | raw: plan_scan by hand + parse (CPU) | ratio | files read |")
        print("| --- | --- | --- | --- | --- |")
        for name, (sql, filters) in QUERIES.items():
            parsed = sqlglot.parse_one(sql, read="spark")

            def raw(sql: str = sql, filters: dict[str, str] = filters) -> None:
                sqlglot.parse_one(sql, read="spark")
                for table, text in filters.items():
                    catalog.plan_scan(table, parse_filter(text))  # type: ignore[attr-defined]

            def bound(parsed: sqlglot.exp.Expression = parsed) -> object:
                return engine.bind(parsed, {}, None, 1)

            files = sum(len(p.files) for p in bound().scans)  # type: ignore[attr-defined]
            ours, base = timed(bound, args.repeats), timed(raw, args.repeats)
            print(f"| {name} | {ours * 1000:.2f} ms | {base * 1000:.2f} ms | {ours / base:.2f}x | {files} |")
        engine.close()


if __name__ == "__main__":
    main()
