"""Row-level error routing: invalid rows go to an error sink, never stop the valid ones.

Every processor can call `self.ctx.errors.put(rows, self.name, reason)`. Rows of
different processors have different schemas, so an error record keeps the row
as one JSON object: `processor`, `reason`, `row` (all strings). That fits any
sink: a JSONL/CSV/Parquet file, a table, or a callback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa

from towpath.errors import PipelineError
from towpath.pipeline.processor import ProcessorContext, Sink
from towpath.registry import Registry

ERROR_SCHEMA = pa.schema([("processor", pa.string()), ("reason", pa.string()), ("row", pa.string())])
"""The schema of every error record."""

ErrorTarget: TypeAlias = Sink | str | Path | Callable[[pa.Table], None] | None
"""Where error rows go: a Sink, a file path (by extension), a callback, or None (kept in memory)."""

ERROR_FILE_SINKS: Registry[Callable[..., Sink]] = Registry("error file format", group="towpath.error_file_sinks")
"""File suffix -> the sink an error file of that format is written with. The sinks are connectors;
naming them here (loaded on first use) keeps `pipeline` from importing `connectors`, which builds on it."""
for _suffix, _sink in {".jsonl": "JsonLinesSink", ".json": "JsonLinesSink", ".ndjson": "JsonLinesSink",
                       ".csv": "CsvSink", ".parquet": "ParquetSink"}.items():
    ERROR_FILE_SINKS.register(_suffix, f"towpath.connectors.files:{_sink}")


def rows_as_json(rows: pa.Table | pa.RecordBatch, con: Any = None) -> pa.Array:
    """Each row as a JSON object string, computed by DuckDB (vectorised, types rendered as ISO text).

    Pass a DuckDB connection to reuse it: connecting costs tens of milliseconds.
    """
    import duckdb

    own = con is None
    con = duckdb.connect() if own else con
    try:
        con.register("_rows", rows)
        result = con.sql("SELECT to_json(r) AS j FROM _rows AS r").to_arrow_table()
        con.unregister("_rows")
    finally:
        if own:
            con.close()
    return result.column("j").combine_chunks().cast(pa.string())


class ErrorRouter:
    """Thread-safe collector behind `ctx.errors`; one per distinct error target."""

    def __init__(self, target: ErrorTarget = None, *, name: str = "errors") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._json_lock = threading.Lock()
        self._con: Any = None
        self._sink: Sink | None = None
        self._callback: Callable[[pa.Table], None] | None = None
        self._kept: list[pa.Table] = []
        self._count_hook: Callable[[str, int], None] | None = None
        self.rows = 0
        if isinstance(target, (str, Path)):
            self._sink = _file_sink(Path(target) if not str(target).__contains__("://") else target, name)
        elif isinstance(target, Sink):
            self._sink = target
        elif callable(target):
            self._callback = target
        elif target is not None:
            raise PipelineError(f"error sink must be a Sink, a file path or a callable, got {type(target).__name__}")

    def on_count(self, hook: Callable[[str, int], None]) -> None:
        """Call `hook(processor, n)` for every routed group of rows (feeds the stats)."""
        self._count_hook = hook

    def open(self) -> None:
        if self._sink is not None:
            self._sink.open(ProcessorContext(self.name, errors=None))

    def put(self, rows: pa.Table | pa.RecordBatch, processor: str, reason: str | pa.Array | pa.ChunkedArray) -> None:
        """Route `rows` (any schema) with one reason for all or one per row."""
        n = rows.num_rows
        if n == 0:
            return
        if isinstance(reason, str):
            reasons: Any = pa.array([reason] * n, pa.string())
        else:
            reasons = reason.cast(pa.string())
        with self._json_lock:
            if self._con is None:
                import duckdb

                self._con = duckdb.connect()
            as_json = rows_as_json(rows, self._con)
        record = pa.table({
            "processor": pa.array([processor] * n, pa.string()),
            "reason": reasons,
            "row": as_json,
        }, schema=ERROR_SCHEMA)
        with self._lock:
            self.rows += n
            if self._sink is not None:
                for batch in record.to_batches():
                    self._sink.write(batch)
            elif self._callback is not None:
                self._callback(record)
            else:
                self._kept.append(record)
        if self._count_hook is not None:
            self._count_hook(processor, n)

    def table(self) -> pa.Table:
        """Error records kept in memory (only when no target was given)."""
        with self._lock:
            return pa.concat_tables(self._kept) if self._kept else ERROR_SCHEMA.empty_table()

    def close(self, error: BaseException | None) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._sink is not None:
            self._sink.close(error)


def _file_sink(path: Path | str, name: str) -> Sink:
    text = str(path)
    stem = text.removesuffix(".gz")
    suffix = "." + stem.rsplit(".", 1)[-1] if "." in stem.rsplit("/", 1)[-1] else ""
    if suffix not in ERROR_FILE_SINKS:
        raise PipelineError(
            f"cannot tell the format of error file '{text}': expected one of {', '.join(ERROR_FILE_SINKS.names())}"
        )
    return ERROR_FILE_SINKS.get(suffix)(text, name=name)


def join_reasons(parts: list[pa.Array], sep: str = "; ") -> pa.Array:
    """Join per-row reason arrays with `sep`, skipping nulls (null where every part is null).

    pyarrow's `binary_join_element_wise(..., null_handling="skip")` drops rows
    whose inputs are all null (pyarrow 26), so we fold pairwise instead.
    """
    import pyarrow.compute as pc

    result = parts[0]
    for part in parts[1:]:
        both = pc.binary_join_element_wise(result, part, pa.scalar(sep))
        result = pc.if_else(pc.is_null(result), part, pc.if_else(pc.is_null(part), result, both))
    return result
