"""Top 100 titles per country for one day, as a Python transform on DuckDB relations.

towpath calls `transform(ctx)` inside the WAP template and writes what it returns
(Arrow, Polars or a DuckDB relation) to the job's `target`, replacing the day's
partition (`mode: dynamic_overwrite` in main.sch.yaml).
"""

import datetime as dt

import duckdb
import pyarrow as pa

from towpath.workflows.context import JobContext

TOP_N = 100


def transform(ctx: JobContext) -> pa.Table:
    date = dt.date.fromisoformat(ctx.params["DATE"])
    sessions = ctx.read(
        ctx.params["SOURCE_TABLE"],
        where=f"date = DATE '{date.isoformat()}'",  # pruned to the day's partition files
        columns=["title_id", "country_code", "view_hours"],
    )
    con = duckdb.connect()
    try:
        # Step 1: sum the viewing hours of each title in each country (rounded, so reruns agree).
        by_title = (
            con.from_arrow(sessions)
            .filter("title_id IS NOT NULL AND view_hours > 0")
            .aggregate("title_id, country_code, round(sum(view_hours), 3) AS view_hours", "title_id, country_code")
        )
        # Step 2: rank the titles of each country, most watched first; ties share a rank.
        ranked = by_title.project(
            "title_id, country_code, view_hours, "
            "rank() OVER (PARTITION BY country_code ORDER BY view_hours DESC) AS title_rank"
        )
        # Step 3: keep the top 100 and stamp the date.
        top = ranked.filter(f"title_rank <= {TOP_N}").project("title_id, country_code, title_rank, view_hours")
        result = top.to_arrow_table()
    finally:
        con.close()
    return result.append_column("date", pa.array([date] * result.num_rows, pa.date32()))
