"""KV room: the key-value data abstraction layer that `towpath move` writes through and readers read.

`KvStore` is the one contract (bytes in, bytes out, namespaces and atomic
aliases); `open_store(url)` opens an engine registered in `KV_ENGINES` by URL
scheme (`embedded` LMDB files, `redis://`, `redis+cluster://`, `postgresql://`)
or the KV service (`http://`, `grpc://`) through `Client`, which implements the
same contract plus typed protobuf reads.
"""

from typing import TYPE_CHECKING

from towpath.registry import lazy_exports

_EXPORTS: dict[str, str] = {
    "KvStore": "store",
    "Binaries": "store",
    "Cursor": "store",
    "overview": "store",
    "KV_ENGINES": "engines",
    "open_store": "engines",
    "KvError": "errors",
    "KvUrlError": "errors",
    "KvAuthError": "errors",
    "KvUnavailableError": "errors",
    "NamespaceNotFoundError": "errors",
    "NamespaceExistsError": "errors",
    "NamespaceInUseError": "errors",
    "InvalidNameError": "errors",
    "EmbeddedStore": "embedded",
    "Client": "client",
    "returning_memory": "memory",
}

if TYPE_CHECKING:  # pragma: no cover
    from towpath.kv.client import Client
    from towpath.kv.embedded import EmbeddedStore
    from towpath.kv.engines import KV_ENGINES, open_store
    from towpath.kv.errors import (
        InvalidNameError,
        KvAuthError,
        KvError,
        KvUnavailableError,
        KvUrlError,
        NamespaceExistsError,
        NamespaceInUseError,
        NamespaceNotFoundError,
    )
    from towpath.kv.memory import returning_memory
    from towpath.kv.store import Binaries, Cursor, KvStore, overview

__all__ = [
    "KV_ENGINES",
    "Binaries",
    "Client",
    "Cursor",
    "EmbeddedStore",
    "InvalidNameError",
    "KvAuthError",
    "KvError",
    "KvStore",
    "KvUnavailableError",
    "KvUrlError",
    "NamespaceExistsError",
    "NamespaceInUseError",
    "NamespaceNotFoundError",
    "open_store",
    "overview",
    "returning_memory",
]

__getattr__, __dir__ = lazy_exports(__name__, {name: f"towpath.kv.{module}" for name, module in _EXPORTS.items()}, globals())
