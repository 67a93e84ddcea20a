"""Moves room: warehouse tables into key-value stores, versioned, audited, swapped atomically (Bulldozer).

A `*.move.yaml` (`spec.py`: data_movement / key_value_dal / protobuf) names a
source (an Iceberg table pinned to a snapshot, or a SQL query), key and value
columns and a KV store. `run_move` validates before writing, writes a new
namespace `<alias>_<YYYYMMDDhhmmss>` with protobuf-encoded keys and values,
audits it, and points the alias at it through `publish.KvAliasPublisher`;
`versions.py` lists, recovers, rolls back and retires versions.
"""

from towpath.moves.audits import AuditOutcome
from towpath.moves.run import MoveAuditError, MoveResult, MoveWorkspace, open_kv, run_move, write_batches
from towpath.moves.spec import MoveSpec, find_move, find_moves, load_move
from towpath.moves.versions import (
    MoveError,
    VersionView,
    apply_retention,
    list_versions,
    move_status,
    recorded_schema,
    recover,
    rollback,
)

__all__ = [
    "AuditOutcome",
    "MoveAuditError",
    "MoveError",
    "MoveResult",
    "MoveSpec",
    "MoveWorkspace",
    "VersionView",
    "apply_retention",
    "find_move",
    "find_moves",
    "list_versions",
    "load_move",
    "move_status",
    "open_kv",
    "recorded_schema",
    "recover",
    "rollback",
    "run_move",
    "write_batches",
]
