"""Compile a generated `.proto` with protoc (from grpcio-tools) and load its messages.

The `.proto` text is the one source of truth: towpath's own readers load the
descriptor set protoc builds from it, the same one the Python module written for
consumers (`--python_out`) embeds, so a schema that protoc refuses never
reaches a key-value store.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from towpath.errors import NotInstalledError, TowpathError
from towpath.protobuf.schema import ProtoSchema


class ProtocError(TowpathError):
    """protoc refused a generated `.proto` (a bug in the generator if it ever happens)."""


@dataclass(frozen=True)
class CompiledSchema:
    """Message classes of one compiled schema, in a descriptor pool of their own."""

    schema: ProtoSchema
    key_class: Any
    value_class: Any
    pool: Any

    def message_class(self, full_name: str) -> Any:
        from google.protobuf import message_factory

        return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(full_name))


def _protoc() -> Any:
    try:
        from grpc_tools import protoc
    except ImportError as exc:  # pragma: no cover - the extra is installed in the dev env
        raise NotInstalledError("protobuf compiler", "protoc", extra="kv", missing="grpcio-tools") from exc
    return protoc


def run_protoc(proto_file: Path, *outputs: str) -> None:
    """Run protoc on `proto_file` (its folder is the include root) with `outputs` (`--python_out=DIR`, ...)."""
    protoc = _protoc()
    include = resources.files("grpc_tools") / "_proto"
    args = ["protoc", f"-I{proto_file.parent}", f"-I{include}", *outputs, str(proto_file)]
    code = protoc.main(args)
    if code != 0:
        raise ProtocError(f"protoc failed (exit {code}) on {proto_file}")


def write_proto(schema: ProtoSchema, folder: Path, *, python: bool = True) -> list[Path]:
    """Write `<file_name>` (and protoc's `<name>_pb2.py` + `.pyi` next to it when `python`); returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    proto_file = folder / schema.file_name
    proto_file.write_text(schema.to_proto())
    written = [proto_file]
    if python:
        run_protoc(proto_file, f"--python_out={folder}", f"--pyi_out={folder}")
        stem = proto_file.stem.replace("-", "_").replace(".", "/")
        written += [folder / f"{stem}_pb2.py", folder / f"{stem}_pb2.pyi"]
    return written


def compile_schema(schema: ProtoSchema) -> CompiledSchema:
    """Compile with protoc and load KeyMessage/ValueMessage classes from its descriptor set."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    with tempfile.TemporaryDirectory(prefix="towpath-proto-") as tmp:
        proto_file = Path(tmp) / schema.file_name
        proto_file.write_text(schema.to_proto())
        out = Path(tmp) / "descriptors.pb"
        run_protoc(proto_file, f"--descriptor_set_out={out}", "--include_imports")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)

    def load(name: str) -> Any:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{schema.package}.{name}"))

    return CompiledSchema(schema, load(schema.key.name), load(schema.value.name), pool)
