"""Built-in transforms. Each works on whole Arrow batches (or DuckDB over a batch), never per row."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
import sqlglot.expressions as exp

from towpath.errors import NotInstalledError, PipelineError
from towpath.pipeline._cast import parse_type, try_cast
from towpath.pipeline.errors import PipelineDefinitionError
from towpath.pipeline.processor import Processor, ProcessorContext
from towpath.pipeline.routing import join_reasons

BATCH_TABLE = "batch"
"""The name SQL transforms use for the current batch: `SELECT ... FROM batch`."""


class _Named(Processor):
    def __init__(self, name: str | None = None) -> None:
        if name:
            self.name = name


def _missing(batch: pa.RecordBatch, columns: Iterable[str], who: str) -> None:
    absent = [c for c in columns if c not in batch.schema.names]
    if absent:
        raise PipelineError(
            f"{who}: column(s) {', '.join(repr(c) for c in absent)} not in the batch; "
            f"it has {', '.join(batch.schema.names)}"
        )


class Select(_Named):
    """Keep `columns`, in that order."""

    def __init__(self, columns: Sequence[str], *, name: str | None = None) -> None:
        super().__init__(name)
        self.columns = list(columns)

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        _missing(batch, self.columns, repr(self))
        yield batch.select(self.columns)


class Rename(_Named):
    """Rename columns `{old: new}`; others keep their names."""

    def __init__(self, mapping: Mapping[str, str], *, name: str | None = None) -> None:
        super().__init__(name)
        self.mapping = dict(mapping)

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        _missing(batch, self.mapping, repr(self))
        yield batch.rename_columns([self.mapping.get(n, n) for n in batch.schema.names])


class Cast(_Named):
    """Cast columns `{col: type}`; rows that do not cast go to the error sink, the rest flow on.

    Args:
        types: column -> Arrow type or type name (`"int64"`, `"timestamp[us]"`).
        error_sink: where failed rows go (default: the pipeline's error sink).
    """

    def __init__(self, types: Mapping[str, str | pa.DataType], *, error_sink: Any = None,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.types = {column: parse_type(t) for column, t in types.items()}
        self.error_sink = error_sink

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        _missing(batch, self.types, repr(self))
        arrays = list(batch.columns)
        failed_any: pa.Array | None = None
        reasons: list[pa.Array] = []
        for column, target in self.types.items():
            i = batch.schema.get_field_index(column)
            result, failed = try_cast(arrays[i], target)
            arrays[i] = result
            if failed.true_count:
                failed_any = failed if failed_any is None else pc.or_(failed_any, failed)
                reasons.append(pc.if_else(failed, f"cast: {column} is not a valid {target}", None))
        fields = [pa.field(f.name, self.types.get(f.name, f.type), nullable=True) for f in batch.schema]
        out = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, metadata=batch.schema.metadata))
        if failed_any is None:
            yield out
            return
        reason = join_reasons(reasons)
        bad = batch.filter(failed_any)
        self.ctx.errors.put(bad, self.name, reason.filter(failed_any))
        yield out.filter(pc.invert(failed_any))


class _DuckDBPerWorker(_Named):
    """One DuckDB connection per worker: `open` runs in the worker's own thread and copy."""

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        import duckdb

        self._con = duckdb.connect()
        self._con.execute("SET threads = 1")  # the pipeline already runs one thread per worker

    def close(self, error: BaseException | None) -> None:
        con = getattr(self, "_con", None)
        if con is not None:
            con.close()

    def _query(self, batch: pa.RecordBatch, sql: str) -> pa.Table:
        import duckdb

        self._con.register(BATCH_TABLE, batch)
        try:
            return self._con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise PipelineError(f"{self!r}: DuckDB could not run `{sql}`: {exc}") from None
        finally:
            self._con.unregister(BATCH_TABLE)


class Filter(_DuckDBPerWorker):
    """Keep rows where `predicate` holds: SQL (DuckDB), a pyarrow expression, or `fn(batch) -> mask`.

    A SQL predicate computes only the boolean mask in DuckDB; the rows are then
    taken by Arrow, so the schema and types are exactly those of the input. Rows
    where the predicate is NULL are dropped, as in SQL's WHERE.
    """

    def __init__(self, predicate: str | pc.Expression | Callable[[pa.RecordBatch], Any], *,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.predicate = predicate
        if isinstance(predicate, str):
            try:
                condition = sqlglot.parse_one(predicate, dialect="duckdb")
            except sqlglot.errors.ParseError as exc:
                raise PipelineDefinitionError(f"Filter: cannot parse SQL predicate {predicate!r}: {exc}") from None
            self._sql = exp.select(condition.as_("keep")).from_(BATCH_TABLE).sql(dialect="duckdb")

    def open(self, ctx: ProcessorContext) -> None:
        if isinstance(self.predicate, str):
            super().open(ctx)
        else:
            self.ctx = ctx

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if isinstance(self.predicate, pc.Expression):
            yield batch.filter(self.predicate)
            return
        if callable(self.predicate):  # a vectorised mask function: the cheapest form
            yield batch.filter(pc.fill_null(self.predicate(batch), False))
            return
        mask = self._query(batch, self._sql).column("keep")
        yield batch.filter(pc.fill_null(mask.combine_chunks(), False))


class Sql(_DuckDBPerWorker):
    """Run `SELECT ... FROM batch` in DuckDB over each batch (one connection per worker)."""

    def __init__(self, query: str, *, name: str | None = None) -> None:
        super().__init__(name)
        try:
            parsed = sqlglot.parse_one(query, dialect="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise PipelineDefinitionError(f"Sql: cannot parse {query!r}: {exc}") from None
        if not isinstance(parsed, exp.Query):
            raise PipelineDefinitionError(f"Sql: expected a SELECT query over `batch`, got {query!r}")
        self.query = parsed.sql(dialect="duckdb")

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        yield from self._query(batch, self.query).to_batches()


class Map(_Named):
    """Apply `fn(batch) -> RecordBatch | Table | None` to every batch (None drops it)."""

    def __init__(self, fn: Callable[[pa.RecordBatch], pa.RecordBatch | pa.Table | None], *,
                 name: str | None = None) -> None:
        super().__init__(name or getattr(fn, "__name__", None))
        self.fn = fn

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        result = self.fn(batch)
        if result is None:
            return
        if isinstance(result, pa.Table):
            yield from result.to_batches()
        elif isinstance(result, pa.RecordBatch):
            yield result
        else:
            raise PipelineError(f"{self!r}: function returned {type(result).__name__}, expected a RecordBatch or Table")


class Dedupe(_Named):
    """Drop rows whose `keys` were already seen anywhere in the stream (keeps the first).

    Keys are hashed to 64 bits by DuckDB (`hash(k1, k2, ...)`, vectorised) and
    kept in sorted numpy runs merged like an LSM tree, so memory is 8 bytes per
    distinct key and lookups are `searchsorted`. Two distinct keys colliding on
    64 bits (odds about n²/2⁶⁵) would drop the second: stated, and accepted.
    """

    STATEFUL: ClassVar[bool] = True

    def __init__(self, keys: Sequence[str], *, name: str | None = None) -> None:
        super().__init__(name)
        if not keys:
            raise PipelineDefinitionError("Dedupe needs at least one key column")
        self.keys = list(keys)
        self._hash_sql = exp.select(
            exp.func("hash", *(exp.column(k, quoted=True) for k in self.keys)).as_("h")
        ).from_(BATCH_TABLE).sql(dialect="duckdb")

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        import duckdb

        try:  # numpy's searchsorted: the one thing Arrow cannot do here; not a default dependency
            import numpy  # noqa: F401
        except ImportError:
            raise NotInstalledError("transform", "Dedupe", extra="dedupe", missing="numpy") from None
        self._con = duckdb.connect()
        self._runs: list[Any] = []

    def close(self, error: BaseException | None) -> None:
        if getattr(self, "_con", None) is not None:
            self._con.close()

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        import numpy as np

        _missing(batch, self.keys, repr(self))
        if batch.num_rows == 0:
            return
        self._con.register(BATCH_TABLE, batch)
        hashes = self._con.sql(self._hash_sql).to_arrow_table().column("h").to_numpy()
        self._con.unregister(BATCH_TABLE)
        # first occurrence inside the batch
        unique, first = np.unique(hashes, return_index=True)
        keep = np.zeros(len(hashes), dtype=bool)
        keep[first] = True
        # not seen in earlier batches
        seen = np.zeros(len(unique), dtype=bool)
        for run in self._runs:
            pos = np.searchsorted(run, unique)
            pos[pos >= len(run)] = len(run) - 1
            seen |= run[pos] == unique
        keep[first[seen]] = False
        self._add_run(unique[~seen])
        if keep.all():
            yield batch
        elif keep.any():
            yield batch.filter(pa.array(keep))

    def _add_run(self, run: Any) -> None:
        import numpy as np

        if len(run) == 0:
            return
        self._runs.append(run)
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            top = self._runs.pop()
            self._runs[-1] = np.union1d(self._runs[-1], top)


class Batcher(_Named):
    """Re-chunk the stream into batches of exactly `rows` rows (the last may be smaller)."""

    STATEFUL: ClassVar[bool] = True

    def __init__(self, rows: int, *, name: str | None = None) -> None:
        super().__init__(name)
        if rows < 1:
            raise PipelineDefinitionError(f"Batcher rows must be at least 1, got {rows}")
        self.rows = rows
        self._held: list[pa.RecordBatch] = []
        self._count = 0
        self._lock = threading.Lock()

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        self._held, self._count = [], 0

    def process(self, batch: pa.RecordBatch) -> Iterable[pa.RecordBatch]:
        if batch.num_rows == 0:
            return
        self._held.append(batch)
        self._count += batch.num_rows
        if self._count < self.rows:
            return
        table = pa.Table.from_batches(self._held)
        full = (self._count // self.rows) * self.rows
        for start in range(0, full, self.rows):
            yield from _one_batch(table.slice(start, self.rows))
        rest = table.slice(full)
        self._held = rest.to_batches() if rest.num_rows else []
        self._count = rest.num_rows

    def finish(self) -> Iterable[pa.RecordBatch]:
        if self._count:
            yield from _one_batch(pa.Table.from_batches(self._held))
        self._held, self._count = [], 0


def _one_batch(table: pa.Table) -> list[pa.RecordBatch]:
    return table.combine_chunks().to_batches(max_chunksize=max(table.num_rows, 1))[:1] if table.num_rows else []
