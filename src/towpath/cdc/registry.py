"""`CDC_SOURCES` and `CDC_TARGETS`: every change source and target kind by its `type`, one registration each.

A source is a class built from the job's `CdcSpec` (`postgres.py`, `mysql.py`);
a target kind is its spec model (a `TargetSpec` in `spec.py`, which validates the
YAML entry and opens the target). A package adds either under the entry-point
groups `towpath.cdc_sources` / `towpath.cdc_targets` with no edit to towpath.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from towpath.registry import Registry

if TYPE_CHECKING:
    from towpath.cdc.source import CdcSource
    from towpath.cdc.spec import CdcSpec, TargetSpec

__all__ = ["CDC_SOURCES", "CDC_TARGETS"]

CDC_SOURCES: Registry[Callable[[CdcSpec], CdcSource]] = Registry("CDC source", group="towpath.cdc_sources")
CDC_SOURCES.register("postgres", "towpath.cdc.postgres:PostgresCdcSource", extra="postgres")
CDC_SOURCES.register("mysql", "towpath.cdc.mysql:MysqlCdcSource", extra="mysql")

CDC_TARGETS: Registry[type[TargetSpec]] = Registry("CDC target", group="towpath.cdc_targets")
CDC_TARGETS.register("iceberg", "towpath.cdc.spec:IcebergTargetSpec")
CDC_TARGETS.register("search", "towpath.cdc.spec:SearchTargetSpec")
CDC_TARGETS.register("kv", "towpath.cdc.spec:KvTargetSpec")
