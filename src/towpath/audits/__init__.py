"""Audit room: named checks that return failing rows, run through any engine.

>>> AUDITS.names()[:2]
['accepted_values', 'columns_should_be_unique']
"""

from towpath.audits.base import AUDITS, Audit, AuditParams, get_audit
from towpath.audits.report import failure_report
from towpath.audits.runner import AuditResult, QueryFn, run_audit, run_audits
from towpath.audits.spec import AuditSpec

__all__ = [
    "AUDITS",
    "Audit",
    "AuditParams",
    "AuditResult",
    "AuditSpec",
    "QueryFn",
    "failure_report",
    "get_audit",
    "run_audit",
    "run_audits",
]
