"""Workflows room: the spec, the step runner, job types, daily/backfill runs and the scheduler."""

from towpath.workflows.backfill import BackfillProgress, run_backfill
from towpath.workflows.context import DeferredMarks, JobContext, RunContext, Workspace
from towpath.workflows.daily import run_daily
from towpath.workflows.results import (
    BackfillResult,
    DailyResult,
    DryRun,
    DryRunStep,
    JobResult,
    RunResult,
)
from towpath.workflows.runner import run_workflow
from towpath.workflows.scheduler_service import Outcome, SchedulerOptions, SchedulerService

__all__ = [
    "BackfillProgress",
    "BackfillResult",
    "DailyResult",
    "DeferredMarks",
    "DryRun",
    "DryRunStep",
    "JobContext",
    "JobResult",
    "Outcome",
    "RunContext",
    "RunResult",
    "SchedulerOptions",
    "SchedulerService",
    "Workspace",
    "run_backfill",
    "run_daily",
    "run_workflow",
]
