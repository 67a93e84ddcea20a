"""`KV_ENGINES` (URL scheme -> engine opener) and `open_store`, the one way to open a KV store.

An engine is a callable `(url, token=..., root=...) -> KvStore` registered under
the URL scheme it serves. A package adds one under the entry-point group
`towpath.kv_engines` with no edit to towpath.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from towpath.errors import UnknownNameError
from towpath.kv.errors import KvUrlError
from towpath.kv.store import KvStore
from towpath.registry import Registry

__all__ = ["KV_ENGINES", "EngineOpener", "mask_url", "open_store", "url_options"]


class EngineOpener(Protocol):
    """Opens a store from its URL; `root` is the project folder an engine may keep files under."""

    def __call__(self, url: str, *, token: str | None, root: Path | None) -> KvStore: ...


KV_ENGINES: Registry[EngineOpener] = Registry("KV engine", group="towpath.kv_engines")
KV_ENGINES.register("embedded", "towpath.kv.embedded:open_embedded", extra="kv")
KV_ENGINES.register("redis", "towpath.kv.redis:open_redis", extra="kv")
KV_ENGINES.register("rediss", "towpath.kv.redis:open_redis", extra="kv")
KV_ENGINES.register("redis+cluster", "towpath.kv.redis:open_redis_cluster", extra="kv")
KV_ENGINES.register("postgresql", "towpath.kv.postgres:open_postgres", extra="postgres")
KV_ENGINES.register("postgres", "towpath.kv.postgres:open_postgres", extra="postgres")
KV_ENGINES.register("http", "towpath.kv.client:open_client", extra="kv")
KV_ENGINES.register("https", "towpath.kv.client:open_client", extra="kv")
KV_ENGINES.register("grpc", "towpath.kv.client:open_client", extra="kv")

DEFAULT_URL = "embedded"
"""The store a move or `towpath kv` uses when none is named: files under the project's `.towpath/kv/`."""


def open_store(url: str = DEFAULT_URL, token: str | None = None, *, root: Path | str | None = None) -> KvStore:
    """Open the KV store `url` names.

    `embedded` (files under `<project>/.towpath/kv/`, the project found from
    `root` or the current folder), `embedded:/some/folder`, `redis://host:port/db`,
    `redis+cluster://host:port` (any node), `postgresql://...`, or the KV
    service at `http://host:port` / `grpc://host:port` (`token` authorises writes).

    Raises:
        KvUrlError: the URL is malformed or names no known engine.
        NotInstalledError: the engine's Python package is missing (names the pip extra).
    """
    scheme = url.split(":", 1)[0].lower() if ":" in url else url.lower()
    if not scheme:
        raise KvUrlError("empty KV store URL: expected e.g. 'embedded', 'redis://127.0.0.1:6379/0'")
    try:
        opener = KV_ENGINES.get(scheme)
    except UnknownNameError as exc:
        raise KvUrlError(f"KV store URL {mask_url(url)!r}: {exc}") from None
    return opener(url, token=token, root=Path(root) if root is not None else None)


def url_options(url: str, allowed: dict[str, type]) -> dict[str, object]:
    """The `?name=value` options of `url`, converted to `allowed`'s types; an unknown one is a `KvUrlError`."""
    out: dict[str, object] = {}
    for name, raw in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        kind = allowed.get(name)
        if kind is None:
            known = ", ".join(sorted(allowed)) or "none"
            raise KvUrlError(f"KV store URL {mask_url(url)!r}: unknown option {name!r} (known: {known})")
        try:
            out[name] = kind(raw) if kind is not bool else raw.lower() in {"1", "true", "yes", "on"}
        except ValueError:
            raise KvUrlError(
                f"KV store URL {mask_url(url)!r}: option {name!r} expects {kind.__name__}, got {raw!r}"
            ) from None
    return out


def mask_url(url: str) -> str:
    """`url` with any password replaced by `***`, for messages and `store.url`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
