"""The one contract every key-value engine (and the KV service's client) implements: `KvStore`.

It is bytes-level on purpose: a `towpath move` encodes whole Arrow columns into
protobuf bytes before it writes, and a reader decodes with the classes `protoc`
generated, so the store never needs a schema. Batches are `pa.BinaryArray`s
(or any sequence of `bytes`), so a writer hands over Arrow buffers without
building a Python object per row where the engine can avoid it.

Namespaces are the unit of versioning: a move writes a whole dataset into a new
namespace, then points an alias at it with `set_alias`, one atomic step.
Readers name an alias (or a namespace) and each call resolves it once, so a
`get_many` always reads one version. Dropping a namespace never stalls readers
(a file delete, Redis `UNLINK`, a `DROP TABLE`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeAlias, runtime_checkable

import pyarrow as pa

from towpath.kv.errors import InvalidNameError, KvError

__all__ = ["DEFAULT_SCAN_LIMIT", "Binaries", "Cursor", "KvStore", "as_binary_array", "as_bytes_list", "check_name"]

Binaries: TypeAlias = "pa.BinaryArray | pa.LargeBinaryArray | pa.ChunkedArray | Sequence[bytes]"
"""Keys or values of a batch: an Arrow binary column or any sequence of `bytes`."""

Cursor: TypeAlias = str
"""An opaque scan position: pass the `next_cursor` of one `scan` to the next; None starts (and ends) a scan."""

DEFAULT_SCAN_LIMIT = 1000
"""Rows one `scan` call returns at most unless told otherwise."""

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")


def check_name(name: str, what: str = "namespace") -> str:
    """`name` if it is a valid namespace/alias name, else `InvalidNameError` saying what is allowed.

    Names become file names (embedded), key prefixes (Redis) and table names
    (PostgreSQL), so they are kept to one portable alphabet.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidNameError(
            f"invalid {what} name {name!r}: expected 1-200 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"
        )
    return name


def as_bytes_list(values: Binaries, what: str = "keys") -> list[bytes]:
    """`values` as a list of `bytes`, refusing nulls (a key or value must be bytes, even empty)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if not pa.types.is_binary(values.type) and not pa.types.is_large_binary(values.type):
            raise KvError(f"{what} must be an Arrow binary array, got {values.type}")
        if values.null_count:
            raise KvError(f"{what} contain {values.null_count} null(s): every key and value must be bytes")
        return values.to_pylist()  # type: ignore[no-any-return]
    out = values if isinstance(values, list) else list(values)
    for item in out:
        if not isinstance(item, (bytes, bytearray, memoryview)):
            raise KvError(f"{what} must be bytes, got {type(item).__name__}: {item!r:.60}")
    return out


def as_binary_array(values: Binaries, what: str = "keys") -> pa.BinaryArray:
    """`values` as one `pa.binary()` array without a Python object per row (Arrow input), refusing nulls."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        return pa.array(as_bytes_list(values, what), pa.binary())
    if not pa.types.is_binary(values.type) and not pa.types.is_large_binary(values.type):
        raise KvError(f"{what} must be an Arrow binary array, got {values.type}")
    if values.null_count:
        raise KvError(f"{what} contain {values.null_count} null(s): every key and value must be bytes")
    return values if values.type == pa.binary() else values.cast(pa.binary())


def check_batch(keys: list[bytes] | pa.Array, values: list[bytes] | pa.Array) -> None:
    """Refuse a batch whose keys and values differ in length (nothing is written)."""
    if len(keys) != len(values):
        raise KvError(f"put_batch got {len(keys)} keys but {len(values)} values")


@runtime_checkable
class KvStore(Protocol):
    """A key-value store of namespaces of `bytes -> bytes`, with atomic aliases.

    Engines (embedded LMDB, Redis, Redis Cluster, PostgreSQL) and the KV
    service's `Client` implement it alike, so a writer does not care which.
    """

    url: str
    """Where the store is (secrets masked), for messages."""

    # -- namespaces ----------------------------------------------------------------------------------
    def create_namespace(self, ns: str) -> None:
        """Create an empty namespace; `NamespaceExistsError` if it exists."""
        ...

    def drop_namespace(self, ns: str) -> None:
        """Drop a namespace and all its keys without stalling readers; a missing one is a no-op.

        Raises `NamespaceInUseError` while an alias points to it.
        """
        ...

    def namespaces(self) -> list[str]:
        """Every namespace, sorted."""
        ...

    def count(self, ns: str) -> int:
        """How many keys `ns` (a namespace or an alias) holds."""
        ...

    # -- writes --------------------------------------------------------------------------------------
    def put_batch(self, ns: str, keys: Binaries, values: Binaries) -> int:
        """Write one batch (pipelined / one transaction); returns the number of rows written."""
        ...

    def delete_batch(self, ns: str, keys: Binaries) -> int:
        """Delete keys; returns how many existed."""
        ...

    # -- reads ---------------------------------------------------------------------------------------
    def get(self, ns_or_alias: str, key: bytes) -> bytes | None:
        """The value of `key`, or None."""
        ...

    def get_many(self, ns_or_alias: str, keys: Binaries) -> list[bytes | None]:
        """The values of `keys` in order (None where missing), all from one version."""
        ...

    def scan(self, ns: str, cursor: Cursor | None = None, limit: int = DEFAULT_SCAN_LIMIT) -> tuple[
        list[tuple[bytes, bytes]], Cursor | None
    ]:
        """Up to about `limit` (key, value) pairs from `cursor` on, and the cursor to go on from (None: done)."""
        ...

    # -- aliases -------------------------------------------------------------------------------------
    def set_alias(self, alias: str, ns: str) -> None:
        """Point `alias` at `ns` in one atomic step (readers see the old or the new, never neither)."""
        ...

    def alias(self, alias: str) -> str | None:
        """The namespace `alias` points to, or None."""
        ...

    def aliases(self) -> dict[str, str]:
        """Every alias and its namespace."""
        ...

    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None: ...


class StoreBase:
    """What every engine shares: the context manager and name checks."""

    url: str = ""

    def close(self) -> None:  # pragma: no cover - engines override
        pass

    def known_names(self) -> list[str]:
        """Namespaces and aliases, for "did you mean" in a `NamespaceNotFoundError`."""
        return [*self.namespaces(), *self.aliases()]  # type: ignore[attr-defined]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def overview(store: KvStore) -> dict[str, Any]:
    """The store's namespaces, the aliases pointing at them and each namespace's key count (`kv namespaces`)."""
    names = store.namespaces()
    return {"namespaces": names, "aliases": store.aliases(), "counts": {n: store.count(n) for n in names}}
