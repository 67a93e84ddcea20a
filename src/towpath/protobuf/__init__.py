"""Protobuf room: a table's columns as a generated proto3 schema, and Arrow <-> wire bytes.

`generate_schema` maps key and value columns to `KeyMessage`/`ValueMessage`
(every Iceberg type, nested structs, lists and maps; see `types.py`) numbering
fields stably through `FieldNumbers`; `write_proto`/`compile_schema` run protoc
(grpcio-tools) on the `.proto`; `Encoder` turns Arrow batches into key and
value bytes column by column, byte-identical to `SerializeToString()`;
`Decoder` reads them back into Arrow with the compiled classes.
"""

from towpath.protobuf.compile import CompiledSchema, ProtocError, compile_schema, write_proto
from towpath.protobuf.decode import DecodeError, Decoder, comparable
from towpath.protobuf.encode import EncodeError, Encoder
from towpath.protobuf.schema import (
    FieldNumbers,
    ProtoField,
    ProtoMessage,
    ProtoSchema,
    ProtoSchemaError,
    generate_schema,
)
from towpath.protobuf.types import TIMESTAMP, MapOf, MessageRef, ProtoType, Repeated, Scalar, scalar_for

__all__ = [
    "TIMESTAMP",
    "CompiledSchema",
    "DecodeError",
    "Decoder",
    "EncodeError",
    "Encoder",
    "FieldNumbers",
    "MapOf",
    "MessageRef",
    "ProtoField",
    "ProtoMessage",
    "ProtoSchema",
    "ProtoSchemaError",
    "ProtoType",
    "ProtocError",
    "Repeated",
    "Scalar",
    "comparable",
    "compile_schema",
    "generate_schema",
    "scalar_for",
    "write_proto",
]
