"""Encoding: every type and nesting form decodes exactly, and the bytes are protobuf's own."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from proto_tables import EVERY_TYPE, ROWS, every_type

from towpath.protobuf import (
    CompiledSchema,
    Decoder,
    EncodeError,
    Encoder,
    compile_schema,
    generate_schema,
    write_proto,
)

EPOCH = dt.datetime(1970, 1, 1)


@pytest.fixture(scope="module")
def compiled() -> CompiledSchema:
    return compile_schema(generate_schema(EVERY_TYPE, ["id", "region"], package="shop.v1"))


def _normalise(value: Any) -> Any:
    """protobuf has no null list or map, and maps are unordered: compare what it can represent."""
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return sorted((k, _normalise(v)) for k, v in value)
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


def _expected(column: str) -> list[Any]:
    field = EVERY_TYPE.field(column)
    values = every_type().column(column).to_pylist()
    if pa.types.is_list(field.type) or pa.types.is_large_list(field.type) or pa.types.is_map(field.type):
        values = [[] if v is None else v for v in values]
    return [_normalise(v) for v in values]


def test_every_type_decodes_exactly_through_towpaths_decoder(compiled: CompiledSchema) -> None:
    table = every_type()
    encoder, decoder = Encoder(compiled.schema), Decoder(compiled)
    values = decoder.decode_values(encoder.encode_values(table))
    assert values.schema == compiled.schema.value_schema
    for column in values.column_names:
        assert [_normalise(v) for v in values.column(column).to_pylist()] == _expected(column), column
    keys = decoder.decode_keys(encoder.encode_keys(table))
    assert keys.to_pylist() == table.select(["id", "region"]).to_pylist()


def _fill(message: Any, row: dict[str, Any]) -> Any:
    """Build the message the protobuf runtime's way, from Python values (the independent oracle)."""
    descriptor = message.DESCRIPTOR
    for name, value in row.items():
        if value is None:
            continue
        field = descriptor.fields_by_name[name]
        target = getattr(message, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for k, v in value:
                if value_field.message_type is None:
                    target[k] = v
                elif value_field.message_type.name.endswith("Value") and "entries" in value_field.message_type.fields_by_name:
                    wrapper = target[k]  # reading a message map's key creates the entry
                    for k2, v2 in v:
                        wrapper.entries[k2] = v2
                else:
                    _fill(target[k], v)
        elif field.message_type is not None and field.is_repeated:
            for item in value:
                if "items" in field.message_type.fields_by_name:
                    target.add().items.extend(item)
                else:
                    _fill(target.add(), item)
        elif field.message_type is not None and field.message_type.full_name == "google.protobuf.Timestamp":
            delta = value.replace(tzinfo=None) - EPOCH
            seconds = delta.days * 86400 + delta.seconds
            target.seconds, target.nanos = seconds, delta.microseconds * 1000
        elif field.message_type is not None:
            target.SetInParent()
            _fill(target, value)
        elif field.is_repeated:
            target.extend(value)
        else:
            setattr(message, name, _scalar(name, value))
    return message


def _scalar(name: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if name == "guid":
        return str(uuid.UUID(bytes=value))
    if isinstance(value, dt.datetime):
        delta = value - EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, dt.date):
        return (value - dt.date(1970, 1, 1)).days
    if isinstance(value, dt.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    return value


def test_bytes_are_identical_to_serialize_to_string(compiled: CompiledSchema) -> None:
    table = every_type()
    values = Encoder(compiled.schema).encode_values(table).to_pylist()
    keys = Encoder(compiled.schema).encode_keys(table).to_pylist()
    for row, value, key in zip(ROWS, values, keys, strict=True):
        body = {k: v for k, v in row.items() if k not in ("id", "region")}
        # maps with several entries: protobuf leaves their order unspecified, compare one-entry maps only
        single = {k: v for k, v in body.items() if not (k in ("homes", "matrix") and len(v) > 1)}
        single["matrix"] = [(k, v[:1]) for k, v in single.get("matrix", [])]
        expected = _fill(compiled.value_class(), single).SerializeToString()
        mine = Encoder(compiled.schema).encode_values(pa.Table.from_pylist([{**row, **single,
            **{k: None for k in body if k not in single}}], schema=EVERY_TYPE)).to_pylist()[0]
        assert mine == expected, row["id"]
        assert compiled.value_class.FromString(value) == _fill(compiled.value_class(), body)  # equal as messages
        assert key == compiled.key_class(id=row["id"], region=row["region"]).SerializeToString()


def test_random_flat_rows_match_the_runtime_byte_for_byte() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    ints = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64)
    ints[::5] = 0
    table = pa.table({
        "k": pa.array(np.arange(n)),
        "i64": pa.array(ints, mask=rng.random(n) < 0.2),
        "i32": pa.array(rng.integers(-(2**31), 2**31 - 1, n, dtype=np.int64).astype(np.int32)),
        "u64": pa.array(rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2)),
        "f64": pa.array(np.where(rng.random(n) < 0.3, 0.0, rng.normal(size=n))),
        "f32": pa.array(rng.normal(size=n).astype(np.float32), mask=rng.random(n) < 0.1),
        "b": pa.array(rng.random(n) < 0.5),
        "s": pa.array([None if i % 7 == 0 else "x" * (i % 300) for i in range(n)]),
    })
    table = table.cast(pa.schema([f.with_nullable(f.name not in ("i32", "u64", "f64", "b")) for f in table.schema]))
    compiled = compile_schema(generate_schema(table.schema, ["k"]))
    values = Encoder(compiled.schema).encode_values(table.slice(17)).to_pylist()  # a sliced batch too
    for row, value in zip(table.slice(17).to_pylist(), values, strict=True):
        message = compiled.value_class(**{k: v for k, v in row.items() if k != "k" and v is not None})
        assert value == message.SerializeToString()


def test_null_inside_a_list_is_refused(compiled: CompiledSchema) -> None:
    table = every_type()
    tags = pa.array([["a", None], [], []], pa.list_(pa.string()))
    with pytest.raises(EncodeError, match="field 'tags': null values inside a list"):
        Encoder(compiled.schema).encode_values(table.set_column(table.schema.get_field_index("tags"), "tags", tags))


READER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from google.protobuf import json_format
import shop_pb2
out = []
for line in sys.stdin.read().split():
    message = shop_pb2.ValueMessage.FromString(bytes.fromhex(line))
    out.append(json_format.MessageToDict(message, preserving_proto_field_name=True))
print(json.dumps(out))
"""


def test_a_reader_built_only_from_protocs_generated_python_decodes_every_value(tmp_path: Path) -> None:
    schema = generate_schema(EVERY_TYPE, ["id", "region"], package="shop.v1", file_name="shop.proto")
    files = write_proto(schema, tmp_path / "gen")
    assert [f.name for f in files] == ["shop.proto", "shop_pb2.py", "shop_pb2.pyi"]
    values = Encoder(schema).encode_values(every_type()).to_pylist()
    result = subprocess.run(
        [sys.executable, "-c", READER, str(tmp_path / "gen")], input="\n".join(v.hex() for v in values),
        capture_output=True, text=True, check=True,
    )
    first, second, third = json.loads(result.stdout)
    assert first["price"] == "-12.500" and first["guid"] == "12345678-9abc-def0-1234-56789abcdef0"
    assert first["instant"] == "1960-01-01T00:00:00.000001Z" and first["day"] == 18263
    assert first["clock"] == str(3723000004) and first["local_ts"] == str(1577855167000008)
    assert first["address"] == {"city": "Oslo", "geo": {"lat": 59.9, "lon": 10.7}}
    assert first["orders"] == [{"sku": "x", "qty": 0}, {"qty": 2}]
    assert first["homes"] == {"home": {"city": "A"}, "": {"geo": {"lat": 0.0}}}
    assert first["matrix"] == {"k": {"entries": {"7": 2.0}}, "empty": {}}
    assert first["grid"] == [{"items": ["1", "2"]}, {}, {"items": ["3"]}]
    assert first["amount"] == -0.0 and first["flag"] is True and first["name"] == "héllo"
    assert first["blob"] == "AAE=" and first["fixed3"] == "YWJj" and first["tags"] == ["a", ""]
    assert "required_count" not in first  # implicit presence: 0 is not written
    assert second == {"big": "0", "ratio": 0.0, "required_count": "-9223372036854775808"}  # optional 0 is kept
    assert third["instant"] == "1970-01-01T00:00:00Z" and third["small"] == 0 and third["name"] == ""
    assert third["guid"] == "00000000-0000-0000-0000-000000000000" and third["day"] == -25567
