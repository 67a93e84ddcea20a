"""Catalog room: Iceberg tables through pyiceberg.

Create tables from DDL, write and read them, Write-Audit-Publish branches,
table metadata and high-water marks, history and rollback. Run state lives in `towpath.state`.
"""

from towpath.catalog._catalog import (
    MAIN,
    Catalog,
    ScanPlan,
    UnstagedWriteError,
    WriteMode,
    conform,
    normalize_identifier,
    write_scope,
)
from towpath.catalog._commit import pause_point, require_multi_table_commit
from towpath.catalog.branches import (
    create_branch,
    drop_branch,
    is_ancestor,
    list_branches,
    publish_branch,
    publish_branches,
)
from towpath.catalog.compact import CompactResult, PartitionCompaction, compact, last_compacted
from towpath.catalog.ddl import DdlCheck, DdlError, DdlResult, apply_ddl, check_ddl
from towpath.catalog.gc import GcResult, remove_orphan_files
from towpath.catalog.history import (
    ColumnInfo,
    Rollback,
    SnapshotInfo,
    TableDescription,
    describe,
    describe_table,
    expire_snapshots,
    history,
    rollback,
)
from towpath.catalog.metadata import (
    HwmChange,
    TableMetadata,
    get_hwm,
    get_metadata,
    hwm_for_snapshot,
    parse_hwm,
    set_hwm,
    set_metadata,
)
from towpath.catalog.positions import (
    PositionCommit,
    PositionConflictError,
    commit_with_position,
    position_key,
    position_properties,
    read_position,
    snapshot_position,
    table_positions,
)

__all__ = [
    "MAIN",
    "Catalog",
    "ColumnInfo",
    "CompactResult",
    "DdlCheck",
    "DdlError",
    "DdlResult",
    "GcResult",
    "HwmChange",
    "PartitionCompaction",
    "PositionCommit",
    "PositionConflictError",
    "Rollback",
    "ScanPlan",
    "SnapshotInfo",
    "TableDescription",
    "TableMetadata",
    "UnstagedWriteError",
    "WriteMode",
    "apply_ddl",
    "check_ddl",
    "commit_with_position",
    "compact",
    "conform",
    "create_branch",
    "describe",
    "describe_table",
    "drop_branch",
    "expire_snapshots",
    "get_hwm",
    "get_metadata",
    "history",
    "hwm_for_snapshot",
    "is_ancestor",
    "last_compacted",
    "list_branches",
    "normalize_identifier",
    "parse_hwm",
    "pause_point",
    "position_key",
    "position_properties",
    "publish_branch",
    "publish_branches",
    "read_position",
    "remove_orphan_files",
    "require_multi_table_commit",
    "rollback",
    "set_hwm",
    "set_metadata",
    "snapshot_position",
    "table_positions",
    "write_scope",
]
