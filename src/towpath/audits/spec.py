"""`AuditSpec`: one audit as written in a workflow file.

It lives in the audit room (not in `towpath.workflows`) so the audit library can
be used on its own; the workflow spec re-exports it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from towpath.config import Spec


class AuditSpec(Spec):
    """One entry of an `audits:` list: which audit function, how strict, with what params."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    function: str = Field(min_length=1)
    """Name of a built-in audit, e.g. `columns_should_not_have_nulls` (see `towpath.audits.AUDITS`; plugins add their own)."""
    blocking: bool = True
    """A failing blocking audit stops the publish; a non-blocking one only reports."""
    name: str | None = None
    """Display name in run results (default: the function name)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The audit's parameters, e.g. `{table: db.t, columns: [id]}`; checked against the audit's model."""

    @property
    def display_name(self) -> str:
        """`name` if given, else the function name."""
        return self.name or self.function
