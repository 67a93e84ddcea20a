"""Migrations room: plan a table change, find everyone it affects, tell the owners, track it to done.

`plan_migration` classifies a change (additive or breaking, per consumer) from the
project's column lineage and records it; `notify_migration` drafts one Markdown
notice per owner (exact lines, a patch for renames) into the outbox and sends it
through `towpath.notify`'s channels, never twice; `start_migration` applies it
(Iceberg schema/partition evolution in place, or a new table plus backfill for
a breaking change), recording what `rollback_migration` needs; `migration_status`
rescans the repository and the runs for each consumer; `finish_migration`
closes it.
"""

from towpath.migrations.apply import finish_migration, rollback_migration, start_migration
from towpath.migrations.change import Change, one_change
from towpath.migrations.errors import MigrationError, MigrationNotFoundError
from towpath.migrations.notices import NoticeResult, draft, notify_migration, suggested_patch
from towpath.migrations.plan import plan_migration
from towpath.migrations.progress import ConsumerProgress, MigrationProgress, migration_status
from towpath.migrations.record import Consumer, Migration, Reference, load, load_all, summaries

__all__ = [
    "Change",
    "Consumer",
    "ConsumerProgress",
    "Migration",
    "MigrationError",
    "MigrationNotFoundError",
    "MigrationProgress",
    "NoticeResult",
    "Reference",
    "draft",
    "finish_migration",
    "load",
    "load_all",
    "migration_status",
    "notify_migration",
    "one_change",
    "plan_migration",
    "rollback_migration",
    "start_migration",
    "suggested_patch",
    "summaries",
]
