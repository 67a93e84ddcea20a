"""A table's key and value columns as two proto3 messages with stable field numbers.

`generate_schema` maps the chosen Arrow columns (see `types.py` for the mapping)
to a `KeyMessage` and a `ValueMessage`, nested structs, lists and maps included,
and numbers every field from `FieldNumbers`, the mapping kept with the namespace
in the state room: a field keeps its number across runs, a new column takes the
next unused number, and a removed column (or one whose proto type changed)
becomes `reserved`, so readers built from an older `.proto` never misread a
newer value.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from towpath.errors import TowpathError
from towpath.protobuf.types import (
    TIMESTAMP,
    MapOf,
    MessageRef,
    ProtoType,
    Repeated,
    Scalar,
    is_list,
    scalar_for,
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_FIELD = 536_870_911
_RESERVED_RANGE = range(19000, 20000)


class ProtoSchemaError(TowpathError):
    """A column cannot become a protobuf field (unsupported type, bad name, clash)."""

    def __init__(self, msg: str, *, column: str | None = None) -> None:
        super().__init__(f"column '{column}': {msg}" if column else msg)
        self.column = column


@dataclass(frozen=True)
class ProtoField:
    name: str
    number: int
    type: ProtoType
    optional: bool
    """proto3 `optional` (explicit presence): nullable scalar columns."""
    arrow: pa.Field
    """The Arrow field the values come from (and decode back to)."""


@dataclass(frozen=True)
class ProtoMessage:
    name: str
    path: str
    fields: tuple[ProtoField, ...]
    """In field-number order, the order they are encoded in."""
    nested: tuple[ProtoMessage, ...] = ()
    reserved: tuple[tuple[str, int], ...] = ()

    def message(self, ref: MessageRef) -> ProtoMessage:
        """The message `ref` names, declared in this message or any message nested in it."""
        stack = [self]
        while stack:
            message = stack.pop()
            if message.path == ref.path:
                return message
            stack.extend(message.nested)
        raise KeyError(ref.path)


class FieldNumbers:
    """Message path -> field name -> (number, proto type), plus retired numbers.

    Stored as JSON with the namespace; `generate_schema` reads and updates it.
    """

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._messages: dict[str, dict[str, Any]] = {
            path: {"fields": {k: list(v) for k, v in m.get("fields", {}).items()},
                   "reserved": dict(m.get("reserved", {}))}
            for path, m in (data or {}).items()
        }

    def to_json(self) -> dict[str, Any]:
        return {path: {"fields": {k: list(v) for k, v in m["fields"].items()}, "reserved": dict(m["reserved"])}
                for path, m in sorted(self._messages.items())}

    def assign(self, path: str, name: str, signature: str) -> int:
        """The field's number: kept if the name and proto type are unchanged, else the next free one.

        A column that was removed and comes back gets a new number too: a reader
        built from a `.proto` of the time between may have reused nothing, but
        protobuf's rule is that a reserved number is never handed out again.
        """
        message = self._messages.setdefault(path, {"fields": {}, "reserved": {}})
        fields, reserved = message["fields"], message["reserved"]
        known = fields.get(name)
        if known is not None and known[1] == signature:
            return int(known[0])
        if known is not None:  # the type changed: the old number must never be reused
            reserved[f"{name}#{known[0]}"] = known[0]
        number = self._next(message)
        fields[name] = [number, signature]
        return number

    def retire(self, path: str, current: Iterable[str]) -> tuple[tuple[str, int], ...]:
        """Fields of `path` no longer present become reserved; returns every reserved (name, number)."""
        message = self._messages.setdefault(path, {"fields": {}, "reserved": {}})
        keep = set(current)
        for name in [n for n in message["fields"] if n not in keep]:
            number, _ = message["fields"].pop(name)
            message["reserved"][f"{name}#{number}"] = number
        return tuple(sorted(((n.split("#")[0], int(v)) for n, v in message["reserved"].items()), key=lambda p: p[1]))

    @staticmethod
    def _next(message: Mapping[str, Any]) -> int:
        used = [int(v[0]) for v in message["fields"].values()] + [int(v) for v in message["reserved"].values()]
        number = max(used, default=0) + 1
        if number in _RESERVED_RANGE:
            number = _RESERVED_RANGE.stop
        if number > _MAX_FIELD:
            raise ProtoSchemaError("no protobuf field numbers left in this message")
        return number


@dataclass(frozen=True)
class ProtoSchema:
    """The generated key and value messages of one namespace."""

    package: str
    key: ProtoMessage
    value: ProtoMessage
    numbers: FieldNumbers = field(compare=False)
    file_name: str = "towpath.proto"

    @property
    def key_schema(self) -> pa.Schema:
        return pa.schema([f.arrow for f in self.key.fields])

    @property
    def value_schema(self) -> pa.Schema:
        return pa.schema([f.arrow for f in self.value.fields])

    def to_proto(self) -> str:
        """The `.proto` source (what protoc compiles and consumers read)."""
        lines = ['syntax = "proto3";', "", f"package {self.package};", ""]
        if _uses_timestamp(self.key) or _uses_timestamp(self.value):
            lines += ['import "google/protobuf/timestamp.proto";', ""]
        for message in (self.key, self.value):
            lines += _render(message, "")
            lines.append("")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """What the state room keeps with a version: enough to rebuild this exact schema."""
        return {
            "package": self.package,
            "key_message": self.key.name,
            "value_message": self.value.name,
            "file_name": self.file_name,
            "key_columns": [f.name for f in self.key.fields],
            "value_columns": [f.name for f in self.value.fields],
            "arrow_schema": base64.b64encode(
                pa.schema([*self.key_schema, *self.value_schema]).serialize().to_pybytes()
            ).decode(),
            "field_numbers": self.numbers.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProtoSchema:
        arrow = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data["arrow_schema"])))
        return generate_schema(
            arrow, data["key_columns"], data["value_columns"], package=data["package"],
            key_message=data["key_message"], value_message=data["value_message"],
            numbers=FieldNumbers(data["field_numbers"]), file_name=data["file_name"],
        )


def generate_schema(
    schema: pa.Schema,
    key_columns: Sequence[str],
    value_columns: Sequence[str] | None = None,
    *,
    package: str = "towpath",
    key_message: str = "KeyMessage",
    value_message: str = "ValueMessage",
    numbers: FieldNumbers | None = None,
    file_name: str = "towpath.proto",
) -> ProtoSchema:
    """Build the key and value messages of `schema`'s chosen columns.

    `value_columns` defaults to every column that is not a key. `numbers` is the
    namespace's previous mapping (updated in place); pass None for a new one.

    Raises:
        ProtoSchemaError: an unknown column, a column name protobuf cannot spell,
            or a type with no protobuf form (named with the column).
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", package):
        raise ProtoSchemaError(f"package '{package}' is not a protobuf package name (letters, digits, _ and dots)")
    for message_name in (key_message, value_message):
        if not _NAME.match(message_name):
            raise ProtoSchemaError(f"message name '{message_name}' is not a protobuf identifier")
    numbers = numbers if numbers is not None else FieldNumbers()
    names = schema.names
    if value_columns is None:
        value_columns = [n for n in names if n not in key_columns]
    for column in [*key_columns, *value_columns]:
        if column not in names:
            raise ProtoSchemaError(f"not in the source (columns: {', '.join(names)})", column=column)
    if not key_columns:
        raise ProtoSchemaError("at least one key column is needed")
    key = _Builder(numbers).message(key_message, key_message, [schema.field(c) for c in key_columns], key=True)
    value = _Builder(numbers).message(value_message, value_message, [schema.field(c) for c in value_columns], key=False)
    return ProtoSchema(package, key, value, numbers, file_name)


class _Builder:
    def __init__(self, numbers: FieldNumbers) -> None:
        self.numbers = numbers

    def message(self, name: str, path: str, columns: Sequence[pa.Field], *, key: bool) -> ProtoMessage:
        nested: list[ProtoMessage] = []
        fields = []
        for column in columns:
            if not _NAME.match(column.name):
                raise ProtoSchemaError("not a protobuf field name (letters, digits and _)", column=column.name)
            kind = self.resolve(column.type, column.name, path, nested, key=key)
            if key and not isinstance(kind, Scalar):
                raise ProtoSchemaError(f"a key column must be a primitive type, not {column.type}", column=column.name)
            # Key fields are always `optional` (explicit presence): a key of 0 or "" still serializes to
            # non-empty bytes (stores refuse empty keys), and every key has exactly one encoding.
            optional = isinstance(kind, Scalar) and kind.proto != TIMESTAMP and (column.nullable or key)
            number = self.numbers.assign(path, column.name, _signature(kind))
            fields.append(ProtoField(column.name, number, kind, optional, column))
        names = [m.name for m in nested] + [_camel(f.name) + "Entry" for f in fields if isinstance(f.type, MapOf)]
        clash = {n for n in names if names.count(n) > 1}
        if clash:
            raise ProtoSchemaError(f"nested message names clash in {path}: {', '.join(sorted(clash))}")
        reserved = self.numbers.retire(path, [c.name for c in columns])
        return ProtoMessage(name, path, tuple(sorted(fields, key=lambda f: f.number)), tuple(nested), reserved)

    def resolve(self, dtype: pa.DataType, hint: str, path: str, nested: list[ProtoMessage], *, key: bool) -> ProtoType:
        scalar = scalar_for(dtype)
        if scalar is not None:
            return scalar
        if pa.types.is_struct(dtype):
            name = _camel(hint)
            nested.append(self.message(name, f"{path}.{name}", list(dtype), key=False))
            return MessageRef(name, f"{path}.{name}")
        if is_list(dtype):
            element = self.resolve(dtype.value_type, f"{hint}_item", path, nested, key=key)
            return Repeated(self.wrap(element, f"{hint}_item", "items", dtype.value_field, path, nested))
        if pa.types.is_map(dtype):
            key_type = scalar_for(dtype.key_type)
            if key_type is None or not key_type.map_key:
                raise ProtoSchemaError(
                    f"map keys must be integers, booleans or strings in protobuf, not {dtype.key_type}", column=hint,
                )
            value = self.resolve(dtype.item_type, f"{hint}_value", path, nested, key=key)
            return MapOf(key_type, self.wrap(value, f"{hint}_value", "entries", dtype.item_field, path, nested))
        raise ProtoSchemaError(f"type {dtype} has no protobuf form", column=hint)

    def wrap(
        self, inner: ProtoType, hint: str, field_name: str, arrow: pa.Field, path: str, nested: list[ProtoMessage],
    ) -> ProtoType:
        """A list or map inside a list or map needs a message around it (protobuf has no repeated repeated)."""
        if not isinstance(inner, Repeated | MapOf):
            return inner
        name = _camel(hint)
        wrapper_path = f"{path}.{name}"
        number = self.numbers.assign(wrapper_path, field_name, _signature(inner))
        only = ProtoField(field_name, number, inner, False, pa.field(field_name, arrow.type, nullable=True))
        nested.append(ProtoMessage(name, wrapper_path, (only,)))
        return MessageRef(name, wrapper_path, wrapper=True)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Field"


def _type_text(kind: ProtoType) -> str:
    if isinstance(kind, Scalar):
        return kind.proto
    if isinstance(kind, MessageRef):
        return kind.name
    if isinstance(kind, Repeated):
        return _type_text(kind.element)
    return f"map<{kind.key.proto}, {_type_text(kind.value)}>"


def _signature(kind: ProtoType) -> str:
    """The field's type as the `.proto` spells it; a change of it means a new number."""
    text = _type_text(kind)
    return f"repeated {text}" if isinstance(kind, Repeated) else text


def _uses_timestamp(message: ProtoMessage) -> bool:
    def uses(kind: ProtoType) -> bool:
        if isinstance(kind, Scalar):
            return kind.proto == TIMESTAMP
        if isinstance(kind, Repeated):
            return uses(kind.element)
        if isinstance(kind, MapOf):
            return uses(kind.value)
        return False

    return any(uses(f.type) for f in message.fields) or any(_uses_timestamp(m) for m in message.nested)


def _render(message: ProtoMessage, indent: str) -> list[str]:
    inner = indent + "  "
    lines = [f"{indent}message {message.name} {{"]
    if message.reserved:
        lines.append(f"{inner}reserved {', '.join(str(n) for _, n in message.reserved)};")
        names = sorted({n for n, _ in message.reserved if n not in {f.name for f in message.fields}})
        if names:
            lines.append(f"{inner}reserved {', '.join(repr(n).replace(chr(39), chr(34)) for n in names)};")
    for nested in message.nested:
        lines += _render(nested, inner)
    for f in message.fields:
        label = "optional " if f.optional else ""
        lines.append(f"{inner}{label}{_signature(f.type)} {f.name} = {f.number};")
    lines.append(f"{indent}}}")
    return lines
