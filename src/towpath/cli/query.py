"""`towpath query "SQL"`: one statement across the lake and the project's connections."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from towpath.cli.options import project_from
from towpath.errors import OutputPathError, TowpathError

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("table", "csv", "json", "parquet")


@click.command("query")
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format. Default: table on a terminal, csv in a pipe; with -o, the file's suffix.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows (or the error) as JSON: --format json.")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the rows to FILE instead of printing them (parquet always needs one).")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default=None,
              help="Run on DuckDB (embedded, the default) or Spark (JDBC for connections). Default: the project's.")
@click.option("--dialect", default=None, help="SQL dialect of the statement (default: the project's, spark).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Rows shown by --format table (files and other formats get every row).")
@click.pass_context
def cli(
    ctx: click.Context, sql: str, fmt: str | None, as_json: bool, output: Path | None, engine: str | None,
    dialect: str | None, limit: int,
) -> None:
    """Run one SELECT over the lake and the connections of towpath.yaml.

    Lake tables are `namespace.table`; a connection's tables are
    `connection.table` (its default schema) or `connection.schema.table`.
    Filters and the columns a query needs are pushed into PostgreSQL,
    MySQL/MariaDB and SQLite; a KV namespace joined on its key is looked up by key.

    \b
    Examples:
      towpath query "SELECT count(*) FROM claims.history"
      towpath query "SELECT p.name, sum(h.amount) AS paid
                     FROM ehr.patients p JOIN claims.history h ON h.patient_id = p.id
                     WHERE p.state = 'CA' GROUP BY p.name" --format csv -o paid.csv
    """
    project = project_from(ctx)
    chosen = "json" if as_json else fmt or _format_for(output)
    data = project.query(sql, engine=engine, dialect=dialect)
    if chosen == "table":
        if output is not None:
            raise TowpathError("--format table prints to the terminal; use csv, json or parquet with -o FILE")
        from towpath.cli import render

        render.arrow_table(data, limit=limit)
        if data.num_rows > limit:
            render.err_console.print(f"({data.num_rows - limit} more rows; --limit N shows more, -o FILE writes all)")
        return
    _write(data, chosen, output)


def _format_for(output: Path | None) -> str:
    if output is None:
        return "table" if sys.stdout.isatty() else "csv"
    suffix = output.suffix.lower().lstrip(".")
    return suffix if suffix in ("csv", "json", "parquet") else "csv"


def _write(data: pa.Table, fmt: str, output: Path | None) -> None:
    """CSV through pyarrow's writer, Parquet through pyarrow, JSON as an array of row objects."""
    if fmt == "parquet":
        if output is None:
            raise TowpathError("--format parquet writes a file: add -o FILE.parquet")
        import pyarrow.parquet as pq

        _guard(output, lambda: pq.write_table(data, output))
        return
    if fmt == "csv":
        import pyarrow.csv as pa_csv

        buffer = io.BytesIO()
        pa_csv.write_csv(data, buffer)
        text = buffer.getvalue().decode()
    else:
        from towpath.jsonable import to_jsonable

        text = json.dumps(to_jsonable(data.to_pylist()), indent=2, default=str) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        _guard(output, lambda: output.write_text(text))


def _guard(path: Path, write: Callable[[], object]) -> None:
    try:
        write()
    except OSError as exc:
        raise OutputPathError(path, exc) from None
