"""What every job and template spec has: the base models the job-type modules build on.

A job type's own spec model (`SqlJobSpec` in `towpath.workflows.jobs.sql`, ...)
subclasses `JobSpec`; one that writes tables subclasses `WriteJobSpec`, which
adds the `wap: false` escape hatch the WAP-bypass check reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator

from towpath.config import Spec
from towpath.write_modes import TableWriteMode

__all__ = [
    "ID_PATTERN",
    "Id",
    "JobSpec",
    "SpecModel",
    "WriteJobSpec",
    "WriteMode",
    "as_text",
    "text_mapping",
]

ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
Id = Annotated[str, Field(pattern=ID_PATTERN, description="Letters, digits, `_`, `.` and `-`.")]

WriteMode = TableWriteMode  # the one write-mode vocabulary: towpath/write_modes.py
"""How a job writes its target table."""


def as_text(value: Any) -> Any:
    """YAML scalars as the strings `${...}` substitution produces (`true`, `2`, `0.5`, `2024-01-02`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float)):
        return str(value)
    return value


def text_mapping(value: Any) -> Any:
    """A mapping of YAML scalars as text (`params:`, `parameters:`); anything else is left to validation."""
    if isinstance(value, Mapping):
        return {k: as_text(v) for k, v in value.items()}
    return value


class SpecModel(Spec):
    """Workflow models take their JSON-schema descriptions from field docstrings.

    `defer_build`: a step's job union is built from the job-type registry on first
    use, not when the models are defined, so a plugin's job type joins it and the
    job modules may import this base without an import cycle.
    """

    model_config = ConfigDict(use_attribute_docstrings=True, defer_build=True)


class JobSpec(SpecModel):
    """What every job and template has."""

    type: str
    """The job type (a name in `towpath.workflows.jobs.JOB_TYPES` or `TEMPLATES`)."""
    id: Id
    """Unique in the workflow; names the step in runs, logs and `depends_on`."""
    depends_on: list[str] | None = None
    """Steps that must succeed first. Without it a step depends on the step before it."""
    parameters: dict[str, str] = Field(default_factory=dict)
    """Extra parameters for this step only (on top of the workflow's)."""

    @field_validator("parameters", mode="before")
    @classmethod
    def _text_parameters(cls, value: Any) -> Any:
        return text_mapping(value)


class WriteJobSpec(JobSpec):
    """A job that writes tables: it may run inside a WAP template, and a write outside one is checked."""

    wap: bool = True
    """`false` lets this step write a table that a WAP template of the same workflow publishes,
    bypassing that template's audits (refused unless said explicitly)."""
    expect_rows: bool | None = None
    """Writing 0 rows is a failure (inside a WAP template: a failed audit, nothing published).
    Default: true inside a WAP template, false elsewhere."""
