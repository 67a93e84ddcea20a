"""Audit room: named checks that return failing rows, run through any engine.

>>> sorted(AUDITS)[:2]
['accepted_values', 'columns_should_be_unique']
"""

from towpath.audits import builtin as _builtin  # noqa: F401  (registers the built-in audits)
from towpath.audits.base import AUDITS, Audit, AuditParams, get_audit
from towpath.audits.errors import AuditFailedError
from towpath.audits.runner import AuditResult, QueryFn, run_audit, run_audits
from towpath.audits.spec import AuditSpec

__all__ = [
    "AUDITS",
    "Audit",
    "AuditFailedError",
    "AuditParams",
    "AuditResult",
    "AuditSpec",
    "QueryFn",
    "get_audit",
    "run_audit",
    "run_audits",
]
