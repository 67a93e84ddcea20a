"""File sources and sinks: CSV, JSON lines and Parquet, local or on object storage.

Readers stream: `pyarrow.csv.open_csv`, `pyarrow.json.open_json` and
`ParquetFile.iter_batches` hold one block at a time, so memory stays bounded
whatever the file size. A path may be a file, a directory (every file of the
format below it) or a glob (`data/2024-*.csv`); `.gz`, `.bz2`, `.zst`, `.lz4`
are decompressed by extension.

Writers stage to a hidden temp file beside the target (`.name.tmp-<uuid>`) and
rename it in `close(None)`; `close(error)` deletes it. On object storage they
stage on local disk and upload to the final key only in `close(None)` (an
upload becomes visible only once complete), so readers see either nothing or
the whole object.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pyarrow.parquet as pq

from towpath.connectors._fs import expand, resolve
from towpath.errors import ConnectorError
from towpath.pipeline import ProcessorContext, Sink, Source

_CODECS: dict[str, str] = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}
"""File extension -> Arrow compression codec."""

TypesLike: TypeAlias = pa.Schema | Mapping[str, str | pa.DataType] | None


def _codec(path: str) -> str | None:
    for ext, codec in _CODECS.items():
        if path.endswith(ext):
            return codec
    return None


def _types(types: TypesLike) -> dict[str, pa.DataType]:
    from towpath.types import TypeNameError, to_arrow_type

    if types is None:
        return {}
    if isinstance(types, pa.Schema):
        return {f.name: f.type for f in types}
    try:
        return {name: to_arrow_type(t) for name, t in types.items()}
    except TypeNameError as exc:
        raise ConnectorError(f"types: {exc}") from None


class _FileSource(Source):
    SUFFIXES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: str, *, name: str | None = None, storage_options: Mapping[str, Any] | None = None,
                 batch_rows: int = 65_536) -> None:
        self.path = str(path)
        self.storage_options = dict(storage_options or {})
        self.batch_rows = batch_rows
        if name:
            self.name = name
        self._files: list[pafs.FileInfo] = []
        self._done_bytes = 0
        self._raw: Any = None

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        self._fs, fs_path = resolve(self.path, self.storage_options)
        try:
            self._files = expand(self._fs, fs_path, self.SUFFIXES + tuple(s + c for s in self.SUFFIXES for c in _CODECS))
        except OSError as exc:
            raise ConnectorError(f"{self.name or type(self).__name__}: cannot list '{self.path}': {exc}") from None
        if not self._files:
            raise ConnectorError(f"{self.name or type(self).__name__}: no such file: '{self.path}'")

    def size(self) -> int | None:
        return sum(f.size or 0 for f in self._files) if self._files else None

    def position(self) -> int | None:
        if not self._files:
            return None
        raw = self._raw
        try:
            current = raw.tell() if raw is not None and not raw.closed else 0
        except (OSError, ValueError):
            current = 0
        return self._done_bytes + current

    def read(self) -> Iterator[pa.RecordBatch]:
        for info in self._files:
            yield from self._read_file(info.path)
            self._done_bytes += info.size or 0
            self._raw = None

    def _open_stream(self, path: str) -> Any:
        try:
            self._raw = self._fs.open_input_stream(path, compression=None)
        except FileNotFoundError:
            raise ConnectorError(f"{self.name}: no such file: '{path}'") from None
        except OSError as exc:
            raise ConnectorError(f"{self.name}: cannot open '{path}': {exc}") from None
        codec = _codec(path)
        return pa.CompressedInputStream(self._raw, codec) if codec else self._raw

    def _read_file(self, path: str) -> Iterator[pa.RecordBatch]:
        raise TypeError(f"{type(self).__name__} must implement _read_file")


class CsvSource(_FileSource):
    """Stream a CSV file (or a directory/glob of them).

    Args:
        path: a file, directory or glob; local, `file://`, `s3://` or any fsspec URL.
        delimiter, quote_char: the dialect.
        header: whether the first row holds column names; else give `column_names`.
        types: an Arrow schema or `{column: "int64"}`; other columns are inferred.
        null_values: strings read as null (default: empty and the usual NA spellings).
        block_size: bytes parsed per batch (bounds memory; bigger is faster).
    """

    SUFFIXES = (".csv", ".tsv", ".txt")

    def __init__(self, path: str, *, delimiter: str = ",", header: bool = True,
                 column_names: Sequence[str] | None = None, types: TypesLike = None, quote_char: str | bool = '"',
                 null_values: Sequence[str] | None = None, block_size: int = 4 << 20, skip_rows: int = 0,
                 name: str | None = None, storage_options: Mapping[str, Any] | None = None) -> None:
        super().__init__(path, name=name, storage_options=storage_options)
        self.delimiter, self.header, self.quote_char = delimiter, header, quote_char
        self.column_names = list(column_names) if column_names else None
        if self.column_names is None and isinstance(types, pa.Schema) and not header:
            self.column_names = types.names
        self.types = _types(types)
        self.null_values, self.block_size, self.skip_rows = null_values, block_size, skip_rows

    def _read_file(self, path: str) -> Iterator[pa.RecordBatch]:
        bad_row: list[Any] = []

        def on_invalid(row: Any) -> str:
            bad_row.append(row)
            return "error"

        read = pacsv.ReadOptions(
            block_size=self.block_size, skip_rows=self.skip_rows,
            column_names=self.column_names if self.column_names else None,
            autogenerate_column_names=not self.header and not self.column_names,
        )
        if self.column_names and self.header:
            read.skip_rows = self.skip_rows + 1
        parse = pacsv.ParseOptions(delimiter=self.delimiter, quote_char=self.quote_char,
                                   invalid_row_handler=on_invalid)
        convert = pacsv.ConvertOptions(column_types=self.types, strings_can_be_null=True,
                                       **({"null_values": list(self.null_values)} if self.null_values is not None
                                          else {}))
        stream = self._open_stream(path)
        try:
            reader = pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                if batch.num_rows:
                    yield batch
        except pa.ArrowInvalid as exc:
            raise self._error(path, exc, bad_row) from None
        finally:
            stream.close()

    def _error(self, path: str, exc: Exception, bad_row: list[Any]) -> ConnectorError:
        if bad_row:
            row = bad_row[0]
            number = row.number if row.number is not None and row.number >= 0 else self._find_line(path, row.text)
            line = f":{number}" if number else ""
            return ConnectorError(
                f"{self.name}: {path}{line}: expected {row.expected_columns} columns, got {row.actual_columns}: "
                f"{row.text!r}"
            )
        message = str(exc).split("\n")[0]
        return ConnectorError(f"{self.name}: {path}: bad CSV: {message}")


    def _find_line(self, path: str, text: str) -> int | None:
        """The 1-based line holding `text` (error path only: the streaming reader does not count lines)."""
        import io

        try:
            with self._open_stream(path) as stream:
                for number, line in enumerate(io.TextIOWrapper(stream, encoding="utf-8", errors="replace"), 1):
                    if line.rstrip("\r\n") == text:
                        return number
        except OSError:
            return None
        return None


class JsonLinesSource(_FileSource):
    """Stream newline-delimited JSON objects; `schema` fixes the types (else inferred per block)."""

    SUFFIXES = (".jsonl", ".ndjson", ".json")

    def __init__(self, path: str, *, schema: pa.Schema | None = None, block_size: int = 4 << 20,
                 name: str | None = None, storage_options: Mapping[str, Any] | None = None) -> None:
        super().__init__(path, name=name, storage_options=storage_options)
        self.schema, self.block_size = schema, block_size

    def _read_file(self, path: str) -> Iterator[pa.RecordBatch]:
        stream = self._open_stream(path)
        # pyarrow's JSON parser reads dates and timestamps only from numbers; parse them as
        # strings and cast afterwards, so what JsonLinesSink wrote (ISO text) reads back typed.
        wire = self.schema
        if wire is not None:
            wire = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_temporal(f.type) else f for f in wire])
        parse = pajson.ParseOptions(explicit_schema=wire,
                                    unexpected_field_behavior="ignore" if wire is not None else "infer")
        try:
            reader = pajson.open_json(stream, read_options=pajson.ReadOptions(block_size=self.block_size),
                                      parse_options=parse)
            for batch in reader:
                if batch.num_rows:
                    yield batch if wire == self.schema else batch.cast(self.schema)
        except pa.ArrowInvalid as exc:
            raise ConnectorError(f"{self.name}: {path}: bad JSON lines: {str(exc).splitlines()[0]}") from None
        finally:
            stream.close()


class ParquetSource(_FileSource):
    """Stream Parquet row groups as batches of `batch_rows`; `columns` reads only those."""

    SUFFIXES = (".parquet", ".pq")

    def __init__(self, path: str, *, columns: Sequence[str] | None = None, batch_rows: int = 65_536,
                 name: str | None = None, storage_options: Mapping[str, Any] | None = None) -> None:
        super().__init__(path, name=name, storage_options=storage_options, batch_rows=batch_rows)
        self.columns = list(columns) if columns else None

    def _read_file(self, path: str) -> Iterator[pa.RecordBatch]:
        try:
            self._raw = self._fs.open_input_file(path)
            parquet = pq.ParquetFile(self._raw)
        except FileNotFoundError:
            raise ConnectorError(f"{self.name}: no such file: '{path}'") from None
        except (OSError, pa.ArrowInvalid) as exc:
            raise ConnectorError(f"{self.name}: {path}: not a readable Parquet file: {exc}") from None
        try:
            yield from parquet.iter_batches(batch_size=self.batch_rows, columns=self.columns)
        finally:
            self._raw.close()


class _FileSink(Sink):
    STATEFUL: ClassVar[bool] = True

    def __init__(self, path: str, *, name: str | None = None,
                 storage_options: Mapping[str, Any] | None = None) -> None:
        self.path = str(path)
        self.storage_options = dict(storage_options or {})
        if name:
            self.name = name
        self._writer: Any = None
        self._stream: Any = None
        self._tmp: str | None = None

    def open(self, ctx: ProcessorContext) -> None:
        super().open(ctx)
        self._fs, self._target = resolve(self.path, self.storage_options)
        parent, base = posixpath.split(self._target)
        self._local = self._fs.type_name == "local"
        try:
            if self._local:
                self._tmp = posixpath.join(parent, f".{base}.tmp-{uuid.uuid4().hex[:12]}")
                if parent:
                    self._fs.create_dir(parent, recursive=True)
                raw = self._fs.open_output_stream(self._tmp, compression=None)
            else:
                # Object storage: stage on local disk and upload to the final key only in close(None).
                # (pyarrow's S3 delete re-creates a "dir/" marker, so a temp key would leave litter.)
                fd, self._tmp = tempfile.mkstemp(prefix=".towpath-", suffix=f"-{base}")
                os.close(fd)
                raw = pafs.LocalFileSystem().open_output_stream(self._tmp, compression=None)
        except OSError as exc:
            raise ConnectorError(f"{self.name}: cannot write '{self.path}': {exc}") from None
        codec = _codec(self._target)
        self._stream = pa.CompressedOutputStream(raw, codec) if codec and self._compress_stream else raw

    _compress_stream: ClassVar[bool] = True

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            self._writer = self._make_writer(batch.schema, batch)
        self._write(batch)

    def _make_writer(self, schema: pa.Schema, first: pa.RecordBatch | None) -> Any:
        """The format's writer for `schema`; `first` is the first batch (None for an empty output)."""
        raise TypeError(f"{type(self).__name__} must implement _make_writer")

    def _write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self, error: BaseException | None) -> None:
        if self._stream is None:
            return
        try:
            if error is None and self._writer is None:
                self._writer = self._make_writer(pa.schema([]), None)
            if self._writer is not None:
                self._writer.close()
            if not self._stream.closed:
                self._stream.close()
        finally:
            if error is None:
                self._publish()
            else:
                self._discard()
            self._stream = self._writer = None

    def _publish(self) -> None:
        assert self._tmp is not None
        try:
            if self._local:
                self._fs.move(self._tmp, self._target)
            else:
                pafs.copy_files(self._tmp, self._target, source_filesystem=pafs.LocalFileSystem(),
                                destination_filesystem=self._fs)
                os.remove(self._tmp)
        except OSError as exc:
            raise ConnectorError(f"{self.name}: cannot publish '{self.path}': {exc}") from None

    def _discard(self) -> None:
        if self._tmp is None:
            return
        try:
            if self._local:
                self._fs.delete_file(self._tmp)
            else:
                os.remove(self._tmp)
        except (OSError, FileNotFoundError):
            pass  # never created or already gone: nothing to hide


class CsvSink(_FileSink):
    """Write a CSV file (header first); nulls as empty fields; gzip etc. by extension."""

    def __init__(self, path: str, *, delimiter: str = ",", header: bool = True, quoting: str = "needed",
                 name: str | None = None, storage_options: Mapping[str, Any] | None = None) -> None:
        super().__init__(path, name=name, storage_options=storage_options)
        self.options = pacsv.WriteOptions(include_header=header, delimiter=delimiter, quoting_style=quoting)

    def _make_writer(self, schema: pa.Schema, first: pa.RecordBatch | None) -> Any:
        return pacsv.CSVWriter(self._stream, schema, write_options=self.options)


class _JsonLinesWriter:
    """Rows as JSON objects, one per line, rendered by DuckDB's `to_json` (vectorised)."""

    def __init__(self, stream: Any) -> None:
        import duckdb

        self.stream, self.con = stream, duckdb.connect()

    def write_batch(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        self.con.register("rows", batch)
        lines = self.con.sql("SELECT to_json(r) || chr(10) AS j FROM rows AS r").to_arrow_table().column("j")
        self.con.unregister("rows")
        for chunk in lines.chunks:
            if len(chunk):
                # one list of all lines, joined in C++: no Python loop over rows
                joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(chunk)], pa.int32()), chunk), "")
                self.stream.write(joined[0].as_buffer())

    def close(self) -> None:
        self.con.close()


class JsonLinesSink(_FileSink):
    """Write newline-delimited JSON objects (dates and timestamps as ISO strings)."""

    def _make_writer(self, schema: pa.Schema, first: pa.RecordBatch | None) -> Any:
        return _JsonLinesWriter(self._stream)


class ParquetSink(_FileSink):
    """Write one Parquet file; the schema is the first batch's."""

    _compress_stream: ClassVar[bool] = False

    def __init__(self, path: str, *, compression: str = "snappy", row_group_rows: int = 1 << 20,
                 use_dictionary: bool | Sequence[str] | Literal["auto"] = "auto",
                 name: str | None = None, storage_options: Mapping[str, Any] | None = None) -> None:
        super().__init__(path, name=name, storage_options=storage_options)
        self.compression, self.row_group_rows, self.use_dictionary = compression, row_group_rows, use_dictionary

    def _make_writer(self, schema: pa.Schema, first: pa.RecordBatch | None) -> Any:
        dictionary: bool | list[str]
        if self.use_dictionary == "auto":
            dictionary = dictionary_columns(first) if first is not None else True
        elif isinstance(self.use_dictionary, bool):
            dictionary = self.use_dictionary
        else:
            dictionary = list(self.use_dictionary)
        return pq.ParquetWriter(self._stream, schema, compression=self.compression, use_dictionary=dictionary)

    def _write(self, batch: pa.RecordBatch) -> None:
        try:
            self._writer.write_batch(batch, row_group_size=self.row_group_rows)
        except (ValueError, pa.ArrowInvalid) as exc:
            raise ConnectorError(f"{self.name}: {self.path}: cannot append batch: {exc}") from None


def dictionary_columns(sample: pa.RecordBatch, max_distinct_ratio: float = 0.5) -> list[str]:
    """Columns worth dictionary-encoding: those with few distinct values in `sample`.

    Parquet writers dictionary-encode every column by default and fall back only
    once a page's dictionary grows too big; on ids, emails or free text that is
    wasted work (writing 10M rows of such data took twice as long).
    """
    if sample.num_rows == 0:
        return list(sample.schema.names)
    return [
        name for name, column in zip(sample.schema.names, sample.columns, strict=True)
        if pc.count_distinct(column, mode="all").as_py() <= max_distinct_ratio * sample.num_rows
    ]


__all__ = ["CsvSink", "CsvSource", "JsonLinesSink", "JsonLinesSource", "ParquetSink", "ParquetSource"]
