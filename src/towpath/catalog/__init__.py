"""Catalog room: Iceberg tables through pyiceberg.

Create tables from DDL, write and read them, Write-Audit-Publish branches,
table metadata and high-water marks, history and rollback, and run state.
"""

from towpath.catalog._catalog import MAIN, Catalog, ScanPlan, WriteMode, conform, normalize_identifier
from towpath.catalog.branches import create_branch, drop_branch, is_ancestor, list_branches, publish_branch
from towpath.catalog.ddl import DdlCheck, DdlError, DdlResult, apply_ddl, check_ddl
from towpath.catalog.history import (
    ColumnInfo,
    SnapshotInfo,
    TableDescription,
    describe,
    expire_snapshots,
    history,
    rollback,
)
from towpath.catalog.metadata import TableMetadata, get_hwm, get_metadata, parse_hwm, set_hwm, set_metadata
from towpath.catalog.state import AuditRecord, JobRecord, RunDetail, RunNotFoundError, RunRecord, RunStore

__all__ = [
    "MAIN",
    "AuditRecord",
    "Catalog",
    "ColumnInfo",
    "DdlCheck",
    "DdlError",
    "DdlResult",
    "JobRecord",
    "RunDetail",
    "RunNotFoundError",
    "RunRecord",
    "RunStore",
    "ScanPlan",
    "SnapshotInfo",
    "TableDescription",
    "TableMetadata",
    "WriteMode",
    "apply_ddl",
    "check_ddl",
    "conform",
    "create_branch",
    "describe",
    "drop_branch",
    "expire_snapshots",
    "get_hwm",
    "get_metadata",
    "history",
    "is_ancestor",
    "list_branches",
    "normalize_identifier",
    "parse_hwm",
    "publish_branch",
    "rollback",
    "set_hwm",
    "set_metadata",
]
