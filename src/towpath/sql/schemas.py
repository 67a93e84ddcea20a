"""`CatalogSchemas`: the one view of "which tables exist, with which columns" that SQL analysis reads.

The preflight (validation), static lineage and migrations' impact analysis all
resolve a workflow's SQL against the same thing: the catalog's tables, plus the
tables earlier DDL steps of the workflow create, plus tables a mock describes.
The engines plan their scans from the same object (one load of each table per
query), and it knows each table's column aliases (`towpath.sql.aliases`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from towpath.errors import CatalogError
from towpath.sql.aliases import ColumnAlias, aliases_from

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from towpath.catalog import Catalog
    from towpath.sql.resolve import Schemas

__all__ = ["CatalogSchemas"]


class CatalogSchemas(Mapping[str, Mapping[str, str]]):
    """The tables a step can see: the catalog's, those earlier DDL creates, and described ones.

    A lazy mapping (`db.table` -> {column, lower case -> Iceberg type}): schemas are
    loaded from the catalog on first lookup, so an analysis reads only the tables
    the workflow names.
    """

    def __init__(self, catalog: Catalog, described: Schemas | None = None) -> None:
        self.catalog, self.described = catalog, described or {}
        self.created: dict[str, dict[str, str]] = {}
        self._tables: dict[str, Table | None] = {}
        self._loaded: dict[str, dict[str, str] | None] = {}

    def create(self, ident: str, columns: dict[str, str]) -> None:
        """An earlier step's DDL creates (or evolves) `ident` with `columns`."""
        self.created[ident] = columns

    def table(self, ident: str) -> Table | None:
        """The catalog's table (loaded once per analysis: the engines plan scans from it too), or None."""
        if ident not in self._tables:
            try:
                self._tables[ident] = self.catalog.table(ident)
            except CatalogError:
                self._tables[ident] = None
        return self._tables[ident]

    def aliases(self, ident: str) -> dict[str, ColumnAlias]:
        """Old names of `ident`'s renamed columns still readable (a rename migration in its grace period)."""
        return {old: a for old, a in self._aliases(ident).items() if a.finished is None}

    def renamed(self, ident: str) -> dict[str, ColumnAlias]:
        """Old names of `ident`'s columns whose rename migration finished (for errors that name the rename)."""
        return {old: a for old, a in self._aliases(ident).items() if a.finished is not None}

    def column_aliases(self, ident: str) -> dict[str, ColumnAlias]:
        """Every alias `ident`'s properties record, in a grace period or finished."""
        return self._aliases(ident)

    def _aliases(self, ident: str) -> dict[str, ColumnAlias]:
        table = self.table(ident) if ident not in self.created else None
        return aliases_from(ident, table.properties) if table is not None else {}

    def __getitem__(self, ident: str) -> Mapping[str, str]:
        if ident in self.created:
            return self.created[ident]
        if ident not in self._loaded:
            table = self.table(ident)
            self._loaded[ident] = ({f.name.lower(): str(f.field_type) for f in table.schema().fields}
                                   if table is not None else None)
        columns = self._loaded[ident]
        if columns is None:
            if ident in self.described:
                return self.described[ident]
            raise KeyError(ident)
        return columns

    def __iter__(self) -> Iterator[str]:
        """Every known name (for "did you mean"): listing the catalog is paid only when a name is unknown."""
        return iter({*self.catalog.list_tables(), *self.created, *self.described})

    def __len__(self) -> int:
        return len(set(self))
