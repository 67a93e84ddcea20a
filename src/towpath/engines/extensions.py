"""Load DuckDB extensions from their `duckdb-extension-*` wheels, never from the network.

DuckDB's own `INSTALL x` downloads from extensions.duckdb.org, which locked-down
machines (and this project's CI) cannot reach, and it writes into the user's
home. The wheels ship the same signed binaries inside a Python package
(`duckdb_extension_<name>/extensions/v<duckdb version>/<name>.duckdb_extension`),
so pip installs them offline like any dependency and `LOAD '<path>'` reads them
in place. That is why `duckdb` is pinned to the exact version the wheels exist for.

>>> import duckdb
>>> con = duckdb.connect()
>>> load_extension(con, "sqlite_scanner")
>>> con.sql("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'sqlite_scanner'").fetchone()
(True,)
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import duckdb

from towpath.errors import EngineError

#: Extensions that load another one at initialisation (which would otherwise be downloaded).
DEPENDS_ON: dict[str, tuple[str, ...]] = {"iceberg": ("avro",)}


def extension_path(name: str) -> Path:
    """The extension binary for the running DuckDB, from its wheel."""
    package = f"duckdb_extension_{name}"
    install = f"pip install 'duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}'"
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        raise EngineError(f"the DuckDB extension {name!r} is not installed: {install}") from None
    path = Path(str(root)) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise EngineError(f"the installed DuckDB extension {name!r} is not built for DuckDB {duckdb.__version__}: {install}")
    return path


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load `name` (and what it depends on) into `con` from the installed wheels."""
    for dependency in DEPENDS_ON.get(name, ()):
        load_extension(con, dependency)
    path = str(extension_path(name)).replace("'", "''")
    con.execute(f"LOAD '{path}'")
