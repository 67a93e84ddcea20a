"""State room: everything towpath remembers besides tables.

Workflow runs, job runs and audit results (with the pid, host and heartbeat
that let a dead run be found), and the ledgers other rooms fill: WAP stagings,
key-value namespace versions and aliases, stream offsets, migrations and
lineage. One SQLite file next to the catalog by default, Postgres by URL; the
schema is versioned and migrated when the store is opened.
"""

from towpath.state.errors import (
    LeaseHeldError,
    LeaseLostError,
    OffsetConflictError,
    RunNotFoundError,
    StateError,
)
from towpath.state.records import (
    AlertFiring,
    DateStatus,
    Deployment,
    JobRecord,
    KvAlias,
    KvVersion,
    Lease,
    LineageEdge,
    LineageRun,
    LineageUse,
    LineageWorkflow,
    MigrationRecord,
    PendingWindow,
    RecordedAudit,
    RunDetail,
    RunRecord,
    SavedChart,
    Staging,
    StreamOffset,
)
from towpath.state.store import HEARTBEAT_S, STALE_AFTER, StateStore, new_run_id

__all__ = [
    "HEARTBEAT_S",
    "STALE_AFTER",
    "AlertFiring",
    "DateStatus",
    "Deployment",
    "JobRecord",
    "KvAlias",
    "KvVersion",
    "Lease",
    "LeaseHeldError",
    "LeaseLostError",
    "LineageEdge",
    "LineageRun",
    "LineageUse",
    "LineageWorkflow",
    "MigrationRecord",
    "OffsetConflictError",
    "PendingWindow",
    "RecordedAudit",
    "RunDetail",
    "RunNotFoundError",
    "RunRecord",
    "SavedChart",
    "Staging",
    "StateError",
    "StateStore",
    "StreamOffset",
    "new_run_id",
]
