"""URI -> (pyarrow filesystem, path): local paths, `file://`, `s3://bucket/key`, any fsspec scheme.

S3 settings come from `options` first, then the usual environment variables
(`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`, `AWS_DEFAULT_REGION`/`AWS_REGION`), so the same pipeline
runs against AWS, MinIO or moto by configuration only.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs

from towpath.errors import ConnectorError

_GLOB_CHARS = "*?["


def resolve(uri: str, options: Mapping[str, Any] | None = None) -> tuple[pafs.FileSystem, str]:
    """The filesystem and the path inside it for `uri`."""
    options = dict(options or {})
    text = str(uri)
    if text.startswith("s3://"):
        return _s3(options), text[len("s3://"):]
    if text.startswith("file://"):
        return pafs.LocalFileSystem(), os.path.abspath(text[len("file://"):])
    if "://" in text:
        try:
            import fsspec
            from pyarrow.fs import FSSpecHandler, PyFileSystem

            fs, path = fsspec.core.url_to_fs(text, **options)
        except (ImportError, ValueError) as exc:
            raise ConnectorError(f"cannot open '{text}': {exc}") from None
        return PyFileSystem(FSSpecHandler(fs)), path
    return pafs.LocalFileSystem(), os.path.abspath(text)


def _s3(options: dict[str, Any]) -> pafs.FileSystem:
    endpoint = options.pop("endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL")
    kwargs: dict[str, Any] = {
        "access_key": options.pop("access_key", None) or os.environ.get("AWS_ACCESS_KEY_ID"),
        "secret_key": options.pop("secret_key", None) or os.environ.get("AWS_SECRET_ACCESS_KEY"),
        "session_token": options.pop("session_token", None) or os.environ.get("AWS_SESSION_TOKEN"),
        "region": options.pop("region", None) or os.environ.get("AWS_DEFAULT_REGION")
        or os.environ.get("AWS_REGION") or "us-east-1",
    }
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs["endpoint_override"] = parsed.netloc or parsed.path
        kwargs["scheme"] = parsed.scheme or "https"
    kwargs.update(options)
    try:
        return pafs.S3FileSystem(**{k: v for k, v in kwargs.items() if v is not None})
    except (TypeError, ValueError, OSError) as exc:
        raise ConnectorError(f"cannot configure S3 access: {exc}") from None


def has_glob(path: str) -> bool:
    return any(ch in path for ch in _GLOB_CHARS)


def expand(fs: pafs.FileSystem, path: str, suffixes: tuple[str, ...] = ()) -> list[pafs.FileInfo]:
    """Files for `path`: one file, every matching file below a directory, or a glob; sorted by path.

    Returns an empty list when nothing matches (callers raise a `ConnectorError` naming themselves).
    """
    if has_glob(path):
        base = path[: min(path.index(c) for c in _GLOB_CHARS if c in path)].rsplit("/", 1)[0] or "/"
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        return sorted((i for i in infos if i.type == pafs.FileType.File and fnmatch.fnmatch(i.path, path)),
                      key=lambda i: i.path)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [info]
    if info.type == pafs.FileType.Directory:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
        files = [i for i in infos if i.type == pafs.FileType.File and not i.base_name.startswith((".", "_"))]
        if suffixes:
            files = [i for i in files if i.path.endswith(suffixes)]
        return sorted(files, key=lambda i: i.path)
    return []
