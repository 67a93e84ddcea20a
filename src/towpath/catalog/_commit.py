"""Commit changes to several tables as one: every table's new metadata becomes visible, or none.

pyiceberg commits one table at a time. For a multi-table Write-Audit-Publish
that is not enough: a crash or a conflict between two tables' commits leaves
one table published and the other not. So:

* On the SQL catalog (SQLite, Postgres) we do what pyiceberg's
  `SqlCatalog.commit_table` does for one table, for all of them in ONE database
  transaction: stage each table's new metadata against the table *as we loaded
  it* (so the requirements are checked against what the caller saw), write the
  metadata files (invisible until a pointer names them), then move every
  `metadata_location` pointer with the same optimistic check pyiceberg uses
  (`WHERE metadata_location = <the one we loaded>`). One pointer that moved
  meanwhile rolls the whole transaction back.
* On a REST catalog we send one `POST /v1/{prefix}/transactions/commit` when
  the server lists that endpoint, and refuse otherwise.

`TOWPATH_DEBUG_PAUSE=between-table-commits` (with `TOWPATH_DEBUG_PAUSE_FILE`)
makes a commit stop after the first pointer moved, inside the transaction, so a
test can kill the process exactly there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from pyiceberg.catalog.rest import Endpoint, RestCatalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import CommitTableRequest, Table, TableIdentifier
from pyiceberg.table.update import TableRequirement, TableUpdate
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from towpath.catalog._loaded import LoadingSqlCatalog, move_pointer
from towpath.errors import CatalogError

PAUSE_ENV = "TOWPATH_DEBUG_PAUSE"
PAUSE_FILE_ENV = "TOWPATH_DEBUG_PAUSE_FILE"
MULTI_TABLE_ENDPOINT = Endpoint.from_string("POST /v1/{prefix}/transactions/commit")


class TableChange(NamedTuple):
    """Updates for one table, checked against `table` as the caller loaded it."""

    table: Table
    requirements: tuple[TableRequirement, ...]
    updates: tuple[TableUpdate, ...]


def supports_multi_table_commit(iceberg: object) -> bool:
    """Whether this catalog can commit several tables atomically."""
    if isinstance(iceberg, SqlCatalog):
        return True
    if isinstance(iceberg, RestCatalog):
        return MULTI_TABLE_ENDPOINT in iceberg._supported_endpoints
    return False


def commit_tables(
    iceberg: object, changes: Sequence[TableChange], *, creates: Sequence[tuple[str, str]] = ()
) -> None:
    """Apply every change, or none; on the SQL catalog each table must still be the version the caller loaded.

    `creates` (`db.table`, metadata file) registers new tables in the same commit on the SQL
    catalog (an environment's promotion); elsewhere they are registered after the changes.

    Raises:
        CommitFailedException: a table moved since it was loaded, or a requirement failed (retry after reloading).
        CatalogError: the catalog cannot commit several tables at once.
    """
    if isinstance(iceberg, SqlCatalog):
        _commit_sql(iceberg, changes, creates)
        return
    if changes:
        _commit_other(iceberg, changes)
    for identifier, location in creates:
        iceberg.register_table(identifier, location)  # type: ignore[attr-defined]


def _commit_other(iceberg: object, changes: Sequence[TableChange]) -> None:
    if len(changes) == 1:  # one table: the catalog's own commit, checked by the change's requirements
        change = changes[0]
        change.table.catalog.commit_table(change.table, change.requirements, change.updates)
    else:
        require_multi_table_commit(iceberg)
        assert isinstance(iceberg, RestCatalog)
        _commit_rest(iceberg, changes)


def require_multi_table_commit(iceberg: object) -> None:
    """Raise a `CatalogError` saying what to do if this catalog cannot commit several tables atomically."""
    if not supports_multi_table_commit(iceberg):
        raise CatalogError(
            f"the {type(iceberg).__name__} catalog cannot publish several tables in one atomic commit "
            "(a REST catalog needs the `POST /v1/{prefix}/transactions/commit` endpoint, which this server does not "
            "list); use one WAP template per table"
        )


def _commit_sql(iceberg: SqlCatalog, changes: Sequence[TableChange], creates: Sequence[tuple[str, str]] = ()) -> None:
    staged = []
    for change in changes:
        # pyiceberg's own staging (the same call `SqlCatalog.commit_table` makes), but against the table the
        # caller loaded, so a requirement that held then and the pointer check below agree on one version.
        new = iceberg._update_and_stage_table(change.table, change.table.name(), change.requirements, change.updates)
        if new.metadata == change.table.metadata:
            continue
        iceberg._write_metadata(metadata=new.metadata, io=new.io, metadata_path=new.metadata_location)
        staged.append((change.table, new))
    with iceberg.engine.begin() as conn:
        for number, (table, new) in enumerate(staged):
            move_pointer(conn, iceberg.name, table.name(), table.metadata_location, new.metadata_location)
            if number == 0 and len(staged) > 1:
                pause_point("between-table-commits")
        for identifier, location in creates:  # pyiceberg's `register_table` row, in this transaction
            namespace, _, name = identifier.rpartition(".")
            try:
                conn.execute(insert(IcebergTables).values(
                    catalog_name=iceberg.name, table_namespace=namespace, table_name=name, metadata_location=location,
                    previous_metadata_location=None,
                ))
            except IntegrityError:  # created meanwhile: the retry promotes onto it instead
                raise CommitFailedException(f"Table {identifier} was created by another process") from None
    if isinstance(iceberg, LoadingSqlCatalog):  # the next load of each table finds what was just written
        for _, new in staged:
            iceberg.loader.remember(new)


def _commit_rest(iceberg: RestCatalog, changes: Sequence[TableChange]) -> None:
    from pyiceberg.catalog.rest.response import _handle_non_200_response
    from requests import HTTPError

    requests = [
        CommitTableRequest(
            identifier=TableIdentifier(namespace=list(c.table.name()[:-1]), name=c.table.name()[-1]),  # type: ignore[arg-type]
            requirements=c.requirements, updates=c.updates,
        )
        for c in changes
    ]
    body = '{"table-changes": [' + ", ".join(r.model_dump_json() for r in requests) + "]}"
    response = iceberg._session.post(iceberg.url("transactions/commit", prefixed=True), data=body.encode())
    try:
        response.raise_for_status()
    except HTTPError as exc:
        _handle_non_200_response(exc, {409: CommitFailedException})


def pause_point(name: str) -> None:
    """Block forever here if `TOWPATH_DEBUG_PAUSE` names this point (a crash test kills the process)."""
    if os.environ.get(PAUSE_ENV) != name:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        Path(marker).write_text(str(os.getpid()))
    threading.Event().wait()
