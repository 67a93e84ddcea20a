"""The one type vocabulary users write: Iceberg type names, with Arrow names as aliases.

Wherever a user names a type (mock columns, a connector's `types=`, `Cast`, `Type`), it is
spelt the way Iceberg prints it (`int`, `long`, `decimal(10,2)`, `list<string>`,
`map<string,long>`, `struct<a:int,b:string>`), because that is what `towpath table show`
prints and what a data engineer can check against the catalog by eye. Arrow's names
(`int64`, `float64`, `date32`, `timestamp[us]`, `utf8`, ...) are accepted as aliases, so
code written against pyarrow keeps working. pyiceberg's own `str()` of a struct carries
field ids and `optional` markers, which would make mocks noisy, so we print and parse the
short form here.

Arrow types are the plain (not `large_*`) ones: a mock is a few rows, and
comparisons treat `string` and `large_string` alike (see `testing/compare.py`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FixedType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    PrimitiveType,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
    TimeType,
    UUIDType,
)

from towpath.registry import Registry

__all__ = [
    "MOCK_TYPES",
    "PARAMETERISED_TYPES",
    "TypeNameError",
    "arrow_type",
    "iceberg_schema",
    "parse_type",
    "to_arrow_type",
    "type_names",
    "type_string",
]

MOCK_TYPES: Registry[PrimitiveType] = Registry("mock type", group="towpath.mock_types")
"""Iceberg primitive type names (as a mock spells them) -> pyiceberg types; parameterised and nested
types (`decimal(P,S)`, `list<T>`, ...) are parsed, not registered."""
for _name, _type in {
    "boolean": BooleanType(),
    "int": IntegerType(),
    "long": LongType(),
    "float": FloatType(),
    "double": DoubleType(),
    "date": DateType(),
    "time": TimeType(),
    "timestamp": TimestampType(),
    "timestamptz": TimestamptzType(),
    "string": StringType(),
    "uuid": UUIDType(),
    "binary": BinaryType(),
}.items():
    MOCK_TYPES.register(_name, _type)

PARAMETERISED_TYPES = ("decimal(P,S)", "fixed[N]", "list<T>", "map<K,V>", "struct<a:T,...>")
"""The type shapes a mock may declare besides the names in `MOCK_TYPES`."""


def type_names() -> list[str]:
    """Every type a mock may declare, for error messages."""
    return [*MOCK_TYPES.names(), *PARAMETERISED_TYPES]

_ARROW_ALIASES: dict[str, str] = {
    "bool": "boolean", "int8": "int", "int16": "int", "int32": "int", "int64": "long",
    "float32": "float", "halffloat": "float", "float64": "double", "utf8": "string", "large_string": "string",
    "large_utf8": "string", "str": "string", "large_binary": "binary", "date32": "date", "date32[day]": "date",
    "time64[us]": "time", "timestamp[us]": "timestamp", "timestamp[us, tz=utc]": "timestamptz",
}
"""Arrow type names -> the Iceberg name they stand for (narrow integers widen to `int`)."""

_ARROW: dict[type[IcebergType], pa.DataType] = {
    BooleanType: pa.bool_(),
    IntegerType: pa.int32(),
    LongType: pa.int64(),
    FloatType: pa.float32(),
    DoubleType: pa.float64(),
    DateType: pa.date32(),
    TimeType: pa.time64("us"),
    TimestampType: pa.timestamp("us"),
    TimestamptzType: pa.timestamp("us", tz="UTC"),
    StringType: pa.string(),
    UUIDType: pa.uuid(),
    BinaryType: pa.binary(),
}
"""Iceberg primitive -> Arrow type (Iceberg stores microseconds; timestamptz is UTC)."""

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\d+|[<>(),:\[\]])")


class TypeNameError(ValueError):
    """A type string that is neither an Iceberg type nor an Arrow alias; the caller adds file and line."""


def parse_type(text: str, ids: Iterator[int] | None = None) -> IcebergType:
    """Parse a type string into a pyiceberg type (nested fields get ids from `ids`).

    >>> type_string(parse_type("map<string, list<int>>"))
    'map<string,list<int>>'
    >>> type_string(parse_type("int64"))  # an Arrow name is an alias
    'long'

    Raises:
        TypeNameError: the text is not one of `type_names()` or an Arrow alias; the message says what was expected.
    """
    alias = _ARROW_ALIASES.get(" ".join(text.lower().split()))
    return _parse(alias if alias is not None else text, ids)


def _parse(text: str, ids: Iterator[int] | None) -> IcebergType:
    tokens = _tokens(text)
    parser = _Parser(tokens, text, ids if ids is not None else itertools.count(1))
    result = parser.type()
    if parser.pos != len(tokens):
        raise TypeNameError(f"unexpected '{tokens[parser.pos]}' in type '{text}'")
    return result


def type_string(kind: IcebergType) -> str:
    """The mock spelling of a pyiceberg type (inverse of `parse_type`)."""
    if isinstance(kind, DecimalType):
        return f"decimal({kind.precision},{kind.scale})"
    if isinstance(kind, FixedType):
        return f"fixed[{len(kind)}]"
    if isinstance(kind, ListType):
        return f"list<{type_string(kind.element_type)}>"
    if isinstance(kind, MapType):
        return f"map<{type_string(kind.key_type)},{type_string(kind.value_type)}>"
    if isinstance(kind, StructType):
        return "struct<" + ",".join(f"{f.name}:{type_string(f.field_type)}" for f in kind.fields) + ">"
    for name, primitive in MOCK_TYPES.items():
        if kind == primitive:
            return name
    raise TypeNameError(f"Iceberg type {kind} has no mock spelling")


def arrow_type(kind: IcebergType) -> pa.DataType:
    """The Arrow type a mock column of Iceberg type `kind` is loaded as."""
    if isinstance(kind, DecimalType):
        return pa.decimal128(kind.precision, kind.scale)
    if isinstance(kind, FixedType):
        return pa.binary(len(kind))
    if isinstance(kind, ListType):
        return pa.list_(pa.field("element", arrow_type(kind.element_type)))
    if isinstance(kind, MapType):
        return pa.map_(arrow_type(kind.key_type), arrow_type(kind.value_type))
    if isinstance(kind, StructType):
        return pa.struct([pa.field(f.name, arrow_type(f.field_type)) for f in kind.fields])
    return _ARROW[type(kind)]


def to_arrow_type(value: str | pa.DataType) -> pa.DataType:
    """The Arrow type for a user's type name (Iceberg, or an Arrow alias) or a `pa.DataType` as is.

    Arrow names without an Iceberg twin (`uint8`, `timestamp[ns]`) keep their Arrow meaning.

    >>> to_arrow_type("long"), to_arrow_type("int64"), to_arrow_type("decimal(10,2)")
    (DataType(int64), DataType(int64), Decimal128Type(decimal128(10, 2)))

    Raises:
        TypeNameError: not a type name; the message lists the Iceberg names.
    """
    if isinstance(value, pa.DataType):
        return value
    try:
        return arrow_type(_parse(value, None))
    except TypeNameError:
        pass
    try:
        return pa.type_for_alias(value.strip().lower())
    except (ValueError, KeyError):
        raise TypeNameError(
            f"unknown type '{value}': expected an Iceberg type ({', '.join(type_names())}) or an Arrow name such as int64"
        ) from None


def iceberg_schema(columns: list[tuple[str, str]]) -> Schema:
    """An Iceberg schema (all columns optional) from `(name, type string)` pairs."""
    ids = itertools.count(len(columns) + 1)
    fields = [
        NestedField(i, name, parse_type(kind, ids), required=False) for i, (name, kind) in enumerate(columns, start=1)
    ]
    return Schema(*fields)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None:
            raise TypeNameError(f"unexpected '{stripped[pos:].strip()[:1]}' in type '{text}'")
        out.append(match.group(1))
        pos = match.end()
    if not out:
        raise TypeNameError(f"empty type; expected one of: {', '.join(type_names())}")
    return out


class _Parser:
    """Recursive descent over the tokens of one type string."""

    def __init__(self, tokens: list[str], text: str, ids: Iterator[int]) -> None:
        self.tokens, self.text, self.ids, self.pos = tokens, text, ids, 0

    def next(self) -> str:
        if self.pos >= len(self.tokens):
            raise TypeNameError(f"type '{self.text}' ends too early")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, token: str) -> None:
        got = self.next()
        if got != token:
            raise TypeNameError(f"expected '{token}' but found '{got}' in type '{self.text}'")

    def number(self) -> int:
        got = self.next()
        if not got.isdigit():
            raise TypeNameError(f"expected a number but found '{got}' in type '{self.text}'")
        return int(got)

    def type(self) -> IcebergType:
        name = self.next().lower()
        if name in MOCK_TYPES:
            return MOCK_TYPES.get(name)
        if name == "decimal":
            self.expect("(")
            precision = self.number()
            self.expect(",")
            scale = self.number()
            self.expect(")")
            if not 0 < precision <= 38 or scale > precision:
                raise TypeNameError(f"decimal precision must be 1-38 and scale <= precision in '{self.text}'")
            return DecimalType(precision, scale)
        if name == "fixed":
            self.expect("[")
            length = self.number()
            self.expect("]")
            return FixedType(length)
        if name == "list":
            self.expect("<")
            element_id = next(self.ids)
            element = self.type()
            self.expect(">")
            return ListType(element_id, element, element_required=False)
        if name == "map":
            self.expect("<")
            key_id, value_id = next(self.ids), next(self.ids)
            key = self.type()
            self.expect(",")
            value = self.type()
            self.expect(">")
            return MapType(key_id, key, value_id, value, value_required=False)
        if name == "struct":
            self.expect("<")
            fields = []
            while True:
                field_name = self.next()
                self.expect(":")
                field_id = next(self.ids)
                fields.append(NestedField(field_id, field_name, self.type(), required=False))
                token = self.next()
                if token == ">":
                    break
                if token != ",":
                    raise TypeNameError(f"expected ',' or '>' but found '{token}' in type '{self.text}'")
            return StructType(*fields)
        raise TypeNameError(f"unknown type '{name}'; expected one of: {', '.join(type_names())}")
