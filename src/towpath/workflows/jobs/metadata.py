"""`metadata` jobs: owner, tags, lifetime, column types and description on tables."""

from __future__ import annotations

import time
from typing import Any

from towpath.catalog import normalize_identifier
from towpath.catalog.metadata import set_metadata
from towpath.workflows.context import RunContext
from towpath.workflows.results import JobResult


def run_metadata_job(spec: Any, ctx: RunContext) -> JobResult:
    started = time.perf_counter()
    tables = list(spec.tables or ([spec.table] if spec.table else []))
    for table in tables:
        set_metadata(
            ctx.catalog,
            normalize_identifier(table),
            owner=spec.owner,
            tags=spec.tags,
            lifetime_days=spec.lifetime,
            column_types=spec.column_types,
            description=spec.description,
        )
    return JobResult(
        job_id=spec.id, job_type="metadata", status="success", duration_s=time.perf_counter() - started,
        details={"tables": [normalize_identifier(t) for t in tables]},
    )
