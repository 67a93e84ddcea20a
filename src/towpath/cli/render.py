"""Rendering shared by every command: Rich tables, key/value panels and JSON.

Commands build plain data (dicts, lists, dataclasses) and hand it here; no
command prints on its own except through these helpers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, dates, decimals, bytes and Arrow scalars as JSON-friendly values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def json_out(value: Any) -> None:
    """Print `value` as JSON on stdout (for `--json`)."""
    print(json.dumps(to_jsonable(value), indent=2, default=str))


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None, *, title: str | None = None) -> None:
    """Print rows as a Rich table; columns default to the first row's keys."""
    from rich.table import Table

    rows = list(rows)
    columns = list(columns or (rows[0].keys() if rows else []))
    out = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(out)


def arrow_table(data: Any, *, title: str | None = None, limit: int = 20) -> None:
    """Print the first `limit` rows of an Arrow table."""
    rows = data.slice(0, limit).to_pylist()
    table(rows, data.column_names, title=title)


def key_values(pairs: Mapping[str, Any], *, title: str | None = None) -> None:
    """Print a two-column key/value listing."""
    from rich.table import Table

    out = Table(title=title, show_header=False, box=None, pad_edge=False)
    out.add_column(style="bold cyan")
    out.add_column()
    for key, value in pairs.items():
        out.add_row(key, "" if value is None else str(value))
    console.print(out)


def success(message: str) -> None:
    console.print(f"[green]✓[/green] {message}")


def warning(message: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {message}")
