"""pyiceberg catalogs opened once per process, and safe to carry across a fork.

Opening the SQL catalog builds a SQLAlchemy engine and checks the catalog's
tables (~20 ms), and each `Project` opened it again. A process that opens the
same project many times (the scheduler, the console, the resident worker's
forked commands) now shares one pyiceberg catalog per set of properties, with
one `TableLoader`, so a metadata file parsed by any of them is parsed once.

A SQLite catalog is keyed by its file's identity too: a catalog file removed
and created again (a test, `rm -rf .towpath`) is a new catalog, never the old
inode behind a pooled connection. A forked child drops the pooled connections
it inherited without closing them (SQLAlchemy's rule for `fork`), so the
parent's and the child's never share a SQLite handle; pyiceberg starts its
own thread pool in the child by itself.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from pyiceberg.catalog import PY_CATALOG_IMPL, load_catalog
from pyiceberg.catalog import Catalog as IcebergCatalog
from pyiceberg.catalog.sql import SqlCatalog

from towpath.catalog._loaded import LoadingSqlCatalog, TableLoader

_Key = tuple[tuple[tuple[str, str], ...], tuple[int, int]]
_OPENED: OrderedDict[_Key, tuple[IcebergCatalog, TableLoader]] = OrderedDict()
_LOCK = threading.Lock()
_KEEP = 16
"""Catalogs kept open (a process opening many projects, a test session, keeps the last ones)."""


def open_catalog(props: dict[str, str]) -> tuple[IcebergCatalog, TableLoader]:
    """The process's catalog for `props` (opened now if needed) and its table loader.

    Only SQL catalogs are kept: a REST catalog's HTTP session would carry its
    sockets across a fork, so each `Project` opens its own as before.
    """
    settings = tuple(sorted(props.items()))
    with _LOCK:
        identity = _database_identity(props)
        if identity is not None and (known := _OPENED.get((settings, identity))) is not None:
            _OPENED.move_to_end((settings, identity))
            return known
        iceberg: IcebergCatalog
        opened: tuple[IcebergCatalog, TableLoader]
        if props.get("type") == "sql":  # the same catalog, its table loads going through its loader
            sql = {k: v for k, v in props.items() if k != "type"}
            loading = load_catalog("towpath", **sql, **{PY_CATALOG_IMPL: f"{__package__}._loaded.LoadingSqlCatalog"})
            assert isinstance(loading, LoadingSqlCatalog)
            iceberg, opened = loading, (loading, loading.loader)
        else:
            iceberg = load_catalog("towpath", **props)
            opened = (iceberg, TableLoader(iceberg))
        if isinstance(iceberg, SqlCatalog):
            _OPENED[(settings, _database_identity(props) or (0, 0))] = opened
            while len(_OPENED) > _KEEP:
                forgotten, _ = _OPENED.popitem(last=False)[1]
                assert isinstance(forgotten, SqlCatalog)
                forgotten.engine.dispose()  # its idle connections; a `Catalog` still using it opens new ones
        return opened


def _database_identity(props: dict[str, str]) -> tuple[int, int] | None:
    """(device, inode) of a SQLite catalog's file, None while it does not exist; (0, 0) for a server
    database (PostgreSQL); None for catalogs that are not kept (REST)."""
    if props.get("type") != "sql":
        return None
    if not props.get("uri", "").startswith("sqlite:///"):
        return (0, 0)
    try:
        stat = Path(props["uri"].removeprefix("sqlite:///").partition("?")[0]).stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _forget_inherited_connections() -> None:
    for iceberg, _ in _OPENED.values():
        if isinstance(iceberg, SqlCatalog):
            iceberg.engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)
