"""A window's messages as Arrow columns and pre-joined lines, decoded with or without them (no broker)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from confluent_kafka import Message

from towpath.streaming import JsonFormat, WindowBuffer, decode, message_batch


def messages(values: list[bytes | None], *, partition: int = 0, first: int = 0) -> list[Message]:
    return [Message(topic="orders", partition=partition, offset=first + i, key=None if i % 2 else b"k%d" % i,
                    value=v, timestamp=(1, 1_700_000_000_000 + i)) for i, v in enumerate(values)]


def rows(n: int, start: int = 0) -> list[bytes | None]:
    return [json.dumps({"id": i, "amount": i * 1.5}).encode() for i in range(start, start + n)]


def test_batches_keep_every_field_and_the_lines_join_the_values() -> None:
    buffer = WindowBuffer("orders")
    buffer.add(messages(rows(3)))
    buffer.add(messages(rows(2, start=3), partition=4, first=10))
    table = buffer.table()
    assert buffer.count == 5 and buffer.size == table.column("value").nbytes
    assert table.column("value").to_pylist() == rows(5)
    assert table.column("key").to_pylist() == [b"k0", None, b"k2", b"k0", None]
    assert table.column("partition").to_pylist() == [0, 0, 0, 4, 4]
    assert table.column("offset").to_pylist() == [0, 1, 2, 10, 11]
    assert table.column("topic").to_pylist() == ["orders"] * 5
    assert buffer.lines() == b"".join(v + b"\n" for v in rows(5) if v is not None)
    assert message_batch(messages(rows(3))).to_pydict() == table.slice(0, 3).to_pydict()  # no topic given


@pytest.mark.parametrize("odd", [b'{"id": 1,\n"amount": 2}', b'{"id": 1}\r', b"", None])
def test_a_value_that_cannot_be_one_line_leaves_the_window_without_lines(odd: bytes | None) -> None:
    buffer = WindowBuffer("orders")
    buffer.add(messages(rows(2)))
    buffer.add(messages([odd, *rows(1)]))
    assert buffer.lines() is None
    assert buffer.table().column("value").to_pylist() == [*rows(2), odd, *rows(1)]


def test_a_missing_timestamp_is_null() -> None:
    batch = message_batch([Message(topic="t", partition=0, offset=0, value=b"{}", timestamp=(0, -1)),
                           Message(topic="t", partition=0, offset=1, value=b"{}", timestamp=(1, 5))], "t")
    assert batch.column("timestamp").to_pylist() == [None, 5]


def test_decoding_the_lines_gives_the_rows_of_the_values_and_a_bad_message_is_still_isolated() -> None:
    fmt = JsonFormat(type="json")
    schema = pa.schema([("id", pa.int64()), ("amount", pa.float64())])
    values = [*rows(4), b'{"id": 4, "amount": ', *rows(3, start=5)]
    buffer = WindowBuffer("orders")
    buffer.add(messages(values))
    lines = buffer.lines()
    assert lines is not None  # truncated JSON is still one line: the decoder must find it
    column = buffer.table().column("value")
    with_lines, without = decode(column, fmt, schema, lines=lines), decode(column, fmt, schema)
    assert with_lines.rows.to_pydict() == without.rows.to_pydict()
    assert with_lines.index.to_pylist() == without.index.to_pylist() == [0, 1, 2, 3, 5, 6, 7]
    assert [i for i, _ in with_lines.errors] == [4]
    good = WindowBuffer("orders")
    good.add(messages(rows(6)))
    decoded = decode(good.table().column("value"), fmt, schema, lines=good.lines())
    assert decoded.rows.column("id").to_pylist() == list(range(6)) and decoded.errors == []
