"""The seed's spellings of a job, normalised to towpath's canonical shape before validation.

Netflix Dataflow writes `type: Spark`, nests a job's fields under `spark:` /
`metacat:` blocks, puts audits under `data_auditor:` and names scripts as
`$S3{./path}`. Those files load unchanged; the JSON schema describes only the
canonical shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["JOB_TYPE_ALIASES", "NESTED_BLOCKS", "normalize_job"]

JOB_TYPE_ALIASES = {"spark": "sql", "sparksql": "sql"}
"""Seed spellings mapped to towpath job types (after lower-casing)."""
NESTED_BLOCKS = ("spark", "metacat", "python", "pyspark")
"""Seed blocks whose keys belong to the job itself (`spark: {script: ...}`)."""

_S3_REF = re.compile(r"^\$S3\{(.*)\}$")


def normalize_job(body: Any) -> Any:
    """A job or template mapping in towpath's canonical shape.

    Lower-cases `type`, maps aliases (`Spark` -> `sql`), lifts the seed's nested
    blocks (`spark:`, `metacat:`, `data_auditor:`) into the job and unwraps
    `$S3{./path}` script references. Anything that is not a mapping is returned
    as is for validation to reject.

    >>> normalize_job({"type": "Spark", "spark": {"script": "$S3{./a.sql}"}})
    {'type': 'sql', 'script': './a.sql'}
    """
    if not isinstance(body, Mapping):
        return body
    out = dict(body)
    kind = out.get("type")
    if isinstance(kind, str):
        kind = kind.strip().lower()
        out["type"] = JOB_TYPE_ALIASES.get(kind, kind)
    for block in NESTED_BLOCKS:
        nested = out.get(block)
        if isinstance(nested, Mapping):
            del out[block]
            for key, value in nested.items():
                out.setdefault(key, value)
    auditor = out.get("data_auditor")
    if isinstance(auditor, Mapping) and set(auditor) <= {"audits"}:
        del out["data_auditor"]
        out.setdefault("audits", auditor.get("audits", []))
    script = out.get("script")
    if isinstance(script, str) and (match := _S3_REF.match(script.strip())):
        out["script"] = match.group(1)
    return out
