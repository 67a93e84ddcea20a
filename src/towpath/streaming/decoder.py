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

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson

from towpath.streaming.spec import CsvFormat, JsonFormat

Parser = Callable[[bytes], pa.Table]
MIN_BLOCK = 1 << 20


@dataclass(frozen=True)
class Decoded:
    rows: pa.Table
    """One row per good message, in window order."""
    index: pa.Array
    """For each row of `rows`, the message's position in the window (int32)."""
    errors: list[tuple[int, str]]
    """(position in the window, why) of every message that could not be decoded."""


def decode(values: Sequence[bytes | None], fmt: JsonFormat | CsvFormat, schema: pa.Schema | None) -> Decoded:
    """Decode `values` with `schema` for the known columns (None: infer every column)."""
    parse = _json_parser(schema) if isinstance(fmt, JsonFormat) else _csv_parser(fmt, schema)
    errors: list[tuple[int, str]] = []
    keep = list(range(len(values)))
    if None in values or b"" in values:  # tombstones and empty messages: rare, so this loop is off the hot path
        empty = {i for i, v in enumerate(values) if not v}
        errors.extend((i, "empty message (no value)") for i in sorted(empty))
        keep = [i for i in keep if i not in empty]
    pieces: list[tuple[pa.Table, list[int]]] = []
    _split(values, keep, parse, pieces, errors)
    rows, index, conflicts = _concat(pieces)
    errors.extend(conflicts)
    errors.sort()
    return Decoded(rows, index, errors)


def _split(
    values: Sequence[bytes | None], keep: list[int], parse: Parser,
    pieces: list[tuple[pa.Table, list[int]]], errors: list[tuple[int, str]],
) -> None:
    if not keep:
        return
    body = _join([values[i] for i in keep])  # type: ignore[misc]
    try:
        table = parse(body)
        if table.num_rows == len(keep):
            pieces.append((table, keep))
            return
        reason = f"decoded into {table.num_rows} rows, expected {len(keep)}"
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        reason = str(exc)
    if len(keep) == 1:
        errors.append((keep[0], reason))
        return
    mid = len(keep) // 2
    _split(values, keep[:mid], parse, pieces, errors)
    _split(values, keep[mid:], parse, pieces, errors)


def _join(values: list[bytes]) -> bytes:
    body = b"\n".join(values)
    if body.count(b"\n") != len(values) - 1:  # a pretty-printed message: newlines are whitespace in JSON
        body = b"\n".join(v.replace(b"\r", b" ").replace(b"\n", b" ") for v in values)
    return body


def _concat(pieces: list[tuple[pa.Table, list[int]]]) -> tuple[pa.Table, pa.Array, list[tuple[int, str]]]:
    """One table from the decoded pieces; a piece whose inferred new columns conflict with the first's is dead."""
    if not pieces:
        return pa.table({}), pa.array([], pa.int32()), []
    if len(pieces) == 1:
        table, keep = pieces[0]
        return table, pa.array(keep, pa.int32()), []
    tables: list[pa.Table] = []
    indices: list[int] = []
    errors: list[tuple[int, str]] = []
    unified = pieces[0][0].schema
    for table, keep in pieces:
        try:
            unified = pa.unify_schemas([unified, table.schema], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            errors.extend((i, f"type conflict between messages of the window: {exc}") for i in keep)
            continue
        tables.append(table)
        indices.extend(keep)
    return pa.concat_tables(tables, promote_options="permissive"), pa.array(indices, pa.int32()), errors


def _json_parser(schema: pa.Schema | None) -> Parser:
    options = pjson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")

    def parse(body: bytes) -> pa.Table:
        block = max(MIN_BLOCK, len(body) // 4 + 1)
        return pjson.read_json(io.BytesIO(body), read_options=pjson.ReadOptions(block_size=block),
                               parse_options=options)

    return parse


def _csv_parser(fmt: CsvFormat, schema: pa.Schema | None) -> Parser:
    types = {f.name: f.type for f in schema} if schema is not None else {}
    read = pcsv.ReadOptions(column_names=fmt.columns)
    options = pcsv.ParseOptions(delimiter=fmt.delimiter)
    convert = pcsv.ConvertOptions(column_types={k: v for k, v in types.items() if k in fmt.columns},
                                  strings_can_be_null=True)

    def parse(body: bytes) -> pa.Table:
        return pcsv.read_csv(io.BytesIO(body), read_options=read, parse_options=options, convert_options=convert)

    return parse


def missing_required(rows: pa.Table, required: Sequence[str]) -> pa.Array:
    """A boolean mask of the rows lacking (or null in) any required column."""
    mask = pa.array([False] * rows.num_rows) if rows.num_rows else pa.array([], pa.bool_())
    for name in required:
        if name not in rows.column_names:
            return pa.array([True] * rows.num_rows, pa.bool_())
        mask = pc.or_(mask, pc.is_null(rows.column(name)))
    return mask
