"""CDC room: change data capture from PostgreSQL and MySQL/MariaDB into Iceberg tables and search indexes.

A `*.cdc.yaml` names one source table and its targets. `run_cdc` hands a
consistent snapshot off to the change stream at a known position, then applies
batches of changes to every target exactly once (each target records the
position it reached in the same commit as the data) and lets the source free
its log only after every target applied durably. `cdc_status` reports lag and
positions. Sources: `postgres.py` (pgoutput), `mysql.py` (ROW binlog); targets:
`to_iceberg.py`, `to_search.py`, `to_kv.py`; each kind is one registration in
`registry.py` (`CDC_SOURCES`, `CDC_TARGETS`).
"""

from towpath.cdc.changes import Position
from towpath.cdc.errors import CdcError, SchemaChangeError, SlotLostError, SourceError
from towpath.cdc.registry import CDC_SOURCES, CDC_TARGETS
from towpath.cdc.runner import CdcResult, CdcStatus, TargetStatus, cdc_status, open_targets, run_cdc
from towpath.cdc.spec import CdcSpec, TargetSpec, load_cdc_spec
from towpath.cdc.target import CdcTarget, TargetContext

__all__ = [
    "CDC_SOURCES",
    "CDC_TARGETS",
    "CdcError",
    "CdcResult",
    "CdcSpec",
    "CdcStatus",
    "CdcTarget",
    "Position",
    "SchemaChangeError",
    "SlotLostError",
    "SourceError",
    "TargetContext",
    "TargetSpec",
    "TargetStatus",
    "cdc_status",
    "load_cdc_spec",
    "open_targets",
    "run_cdc",
]
