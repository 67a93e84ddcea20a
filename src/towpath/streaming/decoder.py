"""Decode a window's raw messages into one Arrow table in a few C-level calls, isolating the bad ones.

The hot path joins the window's message values into one newline-delimited
buffer and hands it to Arrow's JSON (or CSV) reader once, with the table's
schema as the explicit schema and unknown fields inferred (new columns). Only
when that fails, or yields a different row count than messages (a message
holding two objects, or none), is the window split in halves recursively, so
a window with k bad messages costs about log2(n) extra parses per bad one and
each bad message ends up alone with the reader's error, ready for the
dead-letter table. Nothing here loops over messages in Python in the common case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson

from towpath.streaming.spec import CsvFormat, JsonFormat

Parser = Callable[[pa.Buffer], pa.Table]
MIN_BLOCK = 1 << 20


@dataclass(frozen=True)
class Decoded:
    rows: pa.Table
    """One row per good message, in window order."""
    index: pa.Array
    """For each row of `rows`, the message's position in the window (int32)."""
    errors: list[tuple[int, str]]
    """(position in the window, why) of every message that could not be decoded."""


def decode(
    values: pa.Array | pa.ChunkedArray | Sequence[bytes | None], fmt: JsonFormat | CsvFormat, schema: pa.Schema | None,
    *, lines: bytes | None = None,
) -> Decoded:
    """Decode `values` (a binary array, or bytes) with `schema` for the known columns (None: infer every column).

    `lines`: the same values already joined one per line (none empty, none holding a line break), parsed as
    they are; only if that fails are `values` split to find the bad messages.
    """
    parse = _json_parser(schema) if isinstance(fmt, JsonFormat) else _csv_parser(fmt, schema)
    if lines is not None:
        try:
            table = parse(pa.py_buffer(lines))
            if table.num_rows == len(values):
                return Decoded(table, pa.array(np.arange(len(values), dtype=np.int32)), [])
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass  # a bad message among them: find it below
    array = _binary(values)
    errors: list[tuple[int, str]] = []
    empty = pc.fill_null(pc.equal(pc.binary_length(array), 0), True)
    keep = pa.array(np.arange(len(array), dtype=np.int32))
    if array.null_count or pc.any(empty).as_py():  # tombstones and empty messages: rare
        errors.extend((i, "empty message (no value)") for i in pc.indices_nonzero(empty).to_pylist())
        keep = keep.filter(pc.invert(empty))
    pieces: list[tuple[pa.Table, pa.Array]] = []
    _split(array, keep, parse, pieces, errors)
    rows, index, conflicts = _concat(pieces)
    errors.extend(conflicts)
    errors.sort()
    return Decoded(rows, index, errors)


def _binary(values: pa.Array | pa.ChunkedArray | Sequence[bytes | None]) -> pa.BinaryArray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if not isinstance(values, pa.Array):
        values = pa.array(values, pa.binary())
    if values.type != pa.binary():
        values = values.cast(pa.binary())
    return values


def _split(
    values: pa.BinaryArray, keep: pa.Array, parse: Parser, pieces: list[tuple[pa.Table, pa.Array]],
    errors: list[tuple[int, str]],
) -> None:
    if not len(keep):
        return
    subset = values if len(keep) == len(values) else values.take(keep)
    try:
        table = parse(join_lines(subset))
        if table.num_rows == len(keep):
            pieces.append((table, keep))
            return
        reason = f"decoded into {table.num_rows} rows, expected {len(keep)}"
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        reason = str(exc)
    if len(keep) == 1:
        errors.append((keep[0].as_py(), reason))
        return
    mid = len(keep) // 2
    _split(values, keep.slice(0, mid), parse, pieces, errors)
    _split(values, keep.slice(mid), parse, pieces, errors)


def join_lines(values: pa.BinaryArray) -> pa.Buffer:
    """The values one per line, in one Arrow buffer built in C (no Python object per value).

    A value holding a line break itself (pretty-printed JSON) has its line
    breaks turned into spaces (whitespace to JSON), so each value stays one line.
    """
    data = values.buffers()[2]
    if data is not None:
        raw = np.frombuffer(data, np.uint8)
        if np.count_nonzero(raw == 10) or np.count_nonzero(raw == 13):
            cleaned = np.where((raw == 10) | (raw == 13), np.uint8(32), raw)
            values = pa.BinaryArray.from_buffers(pa.binary(), len(values), values.buffers()[:2] + [pa.py_buffer(cleaned)],
                                                 offset=values.offset)
    joined = pc.binary_join_element_wise(values, pa.scalar(b"", pa.binary()), pa.scalar(b"\n", pa.binary()))
    offsets = np.frombuffer(joined.buffers()[1], np.int32, len(joined) + 1, joined.offset * 4)
    return joined.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _concat(pieces: list[tuple[pa.Table, pa.Array]]) -> tuple[pa.Table, pa.Array, list[tuple[int, str]]]:
    """One table from the decoded pieces; a piece whose inferred new columns conflict with the first's is dead."""
    if not pieces:
        return pa.table({}), pa.array([], pa.int32()), []
    if len(pieces) == 1:
        table, keep = pieces[0]
        return table, keep, []
    tables: list[pa.Table] = []
    indices: list[pa.Array] = []
    errors: list[tuple[int, str]] = []
    unified = pieces[0][0].schema
    for table, keep in pieces:
        try:
            unified = pa.unify_schemas([unified, table.schema], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            errors.extend((i, f"type conflict between messages of the window: {exc}") for i in keep.to_pylist())
            continue
        tables.append(table)
        indices.append(keep)
    index = pa.concat_arrays(indices) if indices else pa.array([], pa.int32())
    return pa.concat_tables(tables, promote_options="permissive"), index, errors


def _json_parser(schema: pa.Schema | None) -> Parser:
    options = pjson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")

    def parse(body: pa.Buffer) -> pa.Table:
        block = max(MIN_BLOCK, body.size // 4 + 1)
        return pjson.read_json(pa.BufferReader(body), read_options=pjson.ReadOptions(block_size=block),
                               parse_options=options)

    return parse


def _csv_parser(fmt: CsvFormat, schema: pa.Schema | None) -> Parser:
    if fmt.columns is None and fmt.header != "none":
        raise ValueError("a CSV header taken from the first message must be resolved before decoding")
    types = {f.name: f.type for f in schema} if schema is not None else {}
    read = (pcsv.ReadOptions(column_names=fmt.columns) if fmt.columns is not None
            else pcsv.ReadOptions(autogenerate_column_names=True))
    options = pcsv.ParseOptions(delimiter=fmt.delimiter)
    convert = pcsv.ConvertOptions(column_types=types, strings_can_be_null=True)

    def parse(body: pa.Buffer) -> pa.Table:
        return pcsv.read_csv(pa.BufferReader(body), read_options=read, parse_options=options, convert_options=convert)

    return parse


def csv_header(line: bytes, delimiter: str) -> list[str]:
    """The column names of a CSV header line (quoting as in the data)."""
    table = pcsv.read_csv(pa.BufferReader(line.rstrip(b"\r\n") + b"\n"),
                          parse_options=pcsv.ParseOptions(delimiter=delimiter))
    return [name.strip() for name in table.column_names]


def missing_required(rows: pa.Table, required: Sequence[str]) -> pa.Array:
    """A boolean mask of the rows lacking (or null in) any required column."""
    mask = pa.array([False] * rows.num_rows) if rows.num_rows else pa.array([], pa.bool_())
    for name in required:
        if name not in rows.column_names:
            return pa.array([True] * rows.num_rows, pa.bool_())
        mask = pc.or_(mask, pc.is_null(rows.column(name)))
    return mask
