"""Schema generation: the type mapping, the .proto text, stable field numbers, refusals."""

from __future__ import annotations

import pyarrow as pa
import pytest
from proto_tables import EVERY_TYPE

from towpath.protobuf import FieldNumbers, ProtoSchema, ProtoSchemaError, compile_schema, generate_schema


def test_every_type_maps_to_its_documented_proto_type() -> None:
    schema = generate_schema(EVERY_TYPE, ["id", "region"], package="shop.v1")
    text = schema.to_proto()
    expected = [
        'import "google/protobuf/timestamp.proto";',
        "message KeyMessage {\n  optional int64 id = 1;\n  optional string region = 2;\n}",
        "  optional bool flag = 1;",
        "  optional int32 small = 2;",
        "  optional int64 big = 3;",
        "  optional float ratio = 4;",
        "  optional double amount = 5;",
        "  optional string price = 6;",  # decimal: exact text
        "  optional int32 day = 7;",  # days since epoch
        "  optional int64 clock = 8;",  # micros since midnight
        "  optional int64 local_ts = 9;",  # wall-clock micros
        "  google.protobuf.Timestamp instant = 10;",  # an instant
        "  optional string name = 11;",
        "  optional string guid = 12;",
        "  optional bytes blob = 13;",
        "  optional bytes fixed3 = 14;",
        "  int64 required_count = 15;",  # not nullable: implicit presence
        "  Address address = 16;",
        "  repeated string tags = 17;",
        "  repeated double scores = 18;",
        "  repeated OrdersItem orders = 19;",
        "  map<string, HomesValue> homes = 20;",
        "  map<string, MatrixValue> matrix = 21;",
        "  repeated GridItem grid = 22;",
        ("  message Address {\n    message Geo {\n      optional double lat = 1;\n      optional double lon = 2;\n    }\n"
        "    optional string city = 1;\n    Geo geo = 2;\n  }"),
        "  message MatrixValue {\n    map<int64, double> entries = 1;\n  }",
        "  message GridItem {\n    repeated int64 items = 1;\n  }",
    ]
    for snippet in expected:
        assert snippet in text, snippet
    compile_schema(schema)  # protoc accepts it


def test_value_columns_default_to_every_non_key_column() -> None:
    schema = generate_schema(pa.schema([("k", pa.int64()), ("a", pa.string()), ("b", pa.int32())]), ["k"])
    assert [f.name for f in schema.value.fields] == ["a", "b"]
    assert [f.name for f in schema.key.fields] == ["k"]
    assert schema.key.fields[0].optional  # explicit presence: a 0 key still has bytes


@pytest.mark.parametrize(
    ("columns", "keys", "values", "message"),
    [
        ([("k", pa.int64())], ["k"], ["missing"], "column 'missing': not in the source (columns: k)"),
        ([("k", pa.int64()), ("n", pa.null())], ["k"], None, "column 'n': type null has no protobuf form"),
        ([("k", pa.int64()), ("m", pa.map_(pa.float64(), pa.int64()))], ["k"], None, "map keys must be integers"),
        ([("k", pa.struct([("a", pa.int64())]))], ["k"], [], "a key column must be a primitive type"),
        ([("k", pa.int64()), ("bad-name", pa.int64())], ["k"], None, "column 'bad-name': not a protobuf field name"),
        ([("k", pa.int64())], [], None, "at least one key column"),
    ],
)
def test_refused_columns_name_the_column(
    columns: list[tuple[str, pa.DataType]], keys: list[str], values: list[str] | None, message: str,
) -> None:
    with pytest.raises(ProtoSchemaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        generate_schema(pa.schema(columns), keys, values)


def test_bad_package_is_refused() -> None:
    with pytest.raises(ProtoSchemaError, match="package 'my-pkg'"):
        generate_schema(pa.schema([("k", pa.int64())]), ["k"], package="my-pkg")


def test_field_numbers_are_stable_across_schema_changes() -> None:
    v1 = pa.schema([("id", pa.int64()), ("email", pa.string()), ("age", pa.int32()), ("city", pa.string()),
                    ("address", pa.struct([("street", pa.string()), ("zip", pa.string())]))])
    first = generate_schema(v1, ["id"])
    numbers = first.numbers.to_json()
    assert {f.name: f.number for f in first.value.fields} == {"email": 1, "age": 2, "city": 3, "address": 4}

    # Columns reordered, `city` dropped, `age` becomes a string, `score` added, a struct field dropped and one added.
    v2 = pa.schema([("score", pa.float64()), ("address", pa.struct([("zip", pa.string()), ("country", pa.string())])),
                    ("age", pa.string()), ("email", pa.string()), ("id", pa.int64())])
    second = generate_schema(v2, ["id"], numbers=FieldNumbers(numbers))
    assert {f.name: f.number for f in second.value.fields} == {"email": 1, "address": 4, "score": 5, "age": 6}
    assert [n for _, n in second.value.reserved] == [2, 3]
    address = second.value.nested[0]
    assert {f.name: f.number for f in address.fields} == {"zip": 2, "country": 3}
    assert address.reserved == (("street", 1),)
    text = second.to_proto()
    assert "  reserved 2, 3;\n" in text and '  reserved "city";\n' in text
    assert "    reserved 1;\n" in text and '    reserved "street";\n' in text
    compile_schema(second)

    # The third run with the same schema changes nothing; `city` coming back gets a new number.
    third = generate_schema(v2, ["id"], numbers=FieldNumbers(second.numbers.to_json()))
    assert third.to_proto() == text
    v3 = v2.append(pa.field("city", pa.string()))
    fourth = generate_schema(v3, ["id"], numbers=FieldNumbers(third.numbers.to_json()))
    assert {f.name: f.number for f in fourth.value.fields}["city"] == 7
    assert "  reserved 2, 3;\n" in fourth.to_proto()


def test_schema_round_trips_through_its_json() -> None:
    schema = generate_schema(EVERY_TYPE, ["id", "region"], package="shop.v1", value_message="Profile")
    again = ProtoSchema.from_json(schema.to_json())
    assert again.to_proto() == schema.to_proto()
    assert again.value_schema == schema.value_schema
