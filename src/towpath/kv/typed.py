"""Typed keys and values for people: a namespace's generated protobuf module, JSON keys in, JSON values out.

`towpath kv get profiles '{"profile_id": 7}'` needs the key message class to
encode the key and the value class to decode the answer. By default they are
compiled from the schema the state room recorded for the namespace's version
(`towpath.moves.recorded_schema`); `--proto-module` (a generated `*_pb2.py`
file or a dotted module name) overrides that, and `--raw` reads bytes.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from google.protobuf.message import Message

from towpath.kv.client import value_class_for
from towpath.kv.errors import KvError

if TYPE_CHECKING:
    from towpath.kv.store import KvStore

__all__ = ["decode", "encode_key", "load_classes", "load_key_class", "lookup"]


def load_key_class(module: str, message: str = "KeyMessage") -> type[Message]:
    """The key message class `message` of a generated module (a `*_pb2.py` path or a dotted name)."""
    path = Path(module)
    try:
        if path.suffix == ".py":
            if not path.is_file():
                raise KvError(f"--proto-module {module}: no such file")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None and spec.loader is not None
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = loaded
            spec.loader.exec_module(loaded)
        else:
            loaded = importlib.import_module(module)
    except ImportError as exc:
        raise KvError(f"--proto-module {module}: cannot import it: {exc}") from None
    found = getattr(loaded, message, None)
    if not (isinstance(found, type) and issubclass(found, Message)):
        raise KvError(f"--proto-module {module}: no message class {message!r}")
    return found


def encode_key(key_json: str, key_class: type[Message] | None) -> bytes:
    """A key from the command line: JSON of the key message's fields, or (`--raw`, no class) a JSON string as UTF-8."""
    try:
        parsed = json.loads(key_json)
    except json.JSONDecodeError as exc:
        raise KvError(f"KEY_JSON is not JSON ({exc.msg} at column {exc.colno}): {key_json!r}") from None
    if key_class is None:
        if not isinstance(parsed, str):
            raise KvError(f"with --raw, KEY_JSON must be a JSON string (the key's UTF-8 bytes), got {key_json!r}")
        return parsed.encode()
    try:
        return json_format.ParseDict(parsed, key_class()).SerializeToString()
    except json_format.ParseError as exc:
        raise KvError(f"KEY_JSON does not fit {key_class.__name__}: {exc}") from None


def decode(raw: bytes, message_class: type[Message] | None) -> Any:
    """A stored key or value for printing: the message as a dict, or base64 of the bytes without a class."""
    if message_class is None:
        return {"base64": base64.b64encode(raw).decode()}
    message = message_class.FromString(raw)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def load_classes(module: str, key_message: str = "KeyMessage") -> tuple[type[Message], type[Message]]:
    """(key class, value class) of a generated module: `key_message` and the value message beside it."""
    key_class = load_key_class(module, key_message)
    return key_class, value_class_for(key_class)


def lookup(store: KvStore, namespace: str, key_json: str, key_class: type[Message] | None,
           value_class: type[Message] | None) -> dict[str, Any]:
    """One key of `namespace` (a namespace or an alias), typed: `towpath kv get`'s result.

    `found` is False for a missing key; `value` is the decoded value message (base64 without a class).
    """
    raw = store.get(namespace, encode_key(key_json, key_class))
    return {"namespace": namespace, "found": raw is not None,
            "value": None if raw is None else decode(raw, value_class)}
