"""`notify`: one Markdown notice per owner — what changes, why, when, what they must do, the exact lines
to change and, for a rename, a patch — written to the outbox and sent through the project's channels.

A notice's key is the migration, the owner and the status (or the reminder's day), so the same notice
is never sent twice: a new status, or a reminder in the last days before the deadline, is a new notice.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from towpath.migrations.record import Consumer, Migration, load, save

if TYPE_CHECKING:
    from towpath.notify import Delivery, Notice
    from towpath.project import Project

__all__ = ["NoticeResult", "draft", "notify_migration", "relative", "suggested_patch"]

REMINDER_DAYS = 3
"""Reminders go out (once a day) when the deadline is this many days away or fewer."""


@dataclass
class NoticeResult:
    owner: str
    key: str
    sent: bool
    """False: this notice was sent before (never twice)."""
    recipients: list[str] = field(default_factory=list)
    outbox: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"owner": self.owner, "key": self.key, "sent": self.sent, "recipients": self.recipients,
                "outbox": self.outbox, "deliveries": [{"channel": d.channel, "ok": d.ok, "error": d.error}
                                                      for d in self.deliveries]}


def notify_migration(project: Project, migration_id: str, *, today: dt.date | None = None) -> list[NoticeResult]:
    """Send each owner the notice for the migration's current status (and a reminder when the deadline is near)."""
    from towpath.notify import Notifier
    from towpath.notify.channels.outbox import write_notice

    migration = load(project.state, migration_id)
    notifier = Notifier.for_project(project.root, project.config)
    outbox = project.root / ".towpath" / "outbox"
    day = today or dt.date.today()
    results = []
    for owner in sorted(migration.owners):
        for notice in _notices(migration, owner, notifier.recipients([owner]), day, project.root):
            if notice.key in migration.notices:
                results.append(NoticeResult(owner, notice.key, sent=False, recipients=list(notice.recipients)))
                continue
            path = write_notice(outbox, notice)
            deliveries = notifier.send(notice)
            migration.notices[notice.key] = {
                "at": dt.datetime.now(dt.UTC).isoformat(), "owner": owner, "outbox": str(path),
                "deliveries": [{"channel": d.channel, "ok": d.ok, "error": d.error} for d in deliveries],
            }
            results.append(NoticeResult(owner, notice.key, True, list(notice.recipients), str(path), deliveries))
    if migration.status == "planned" and any(r.sent for r in results):
        migration.status = "notified"
        migration.history.append({"status": "notified", "at": dt.datetime.now(dt.UTC).isoformat()})
    save(project.state, migration)
    return results


def _notices(migration: Migration, owner: str, recipients: tuple[str, ...], day: dt.date,
             root: Path | None) -> list[Notice]:
    from towpath.notify import Notice

    status = "planned" if migration.status == "notified" else migration.status
    out = [Notice(kind="migration", subject=_subject(migration, status), body=draft(migration, owner, status, root=root),
                  recipients=recipients, data={"migration": migration.id, "table": migration.table, "owner": owner,
                                               "status": status, "change": migration.change.describe()},
                  key=f"{migration.id}.{_slug(owner)}.{status}")]
    if migration.deadline and migration.status not in ("complete", "finished", "rolled_back"):
        left = (dt.date.fromisoformat(migration.deadline) - day).days
        if 0 <= left <= REMINDER_DAYS:
            out.append(Notice(kind="migration", subject=f"Reminder ({left} days left): {_subject(migration, status)}",
                              body=draft(migration, owner, status, reminder=left, root=root), recipients=recipients,
                              data={"migration": migration.id, "owner": owner, "reminder": True, "days_left": left},
                              key=f"{migration.id}.{_slug(owner)}.reminder-{day.isoformat()}"))
    return out


def _subject(migration: Migration, status: str) -> str:
    return f"[towpath migration {migration.id}] {migration.table}: {migration.change.describe()} ({status})"


def draft(migration: Migration, owner: str, status: str, *, reminder: int | None = None,
          root: Path | None = None) -> str:
    """The Markdown an owner reads (paths relative to the project folder `root`)."""
    change = migration.change
    mine = migration.consumers_of(owner)
    lines = [f"# {migration.table}: {change.describe()}", ""]
    if reminder is not None:
        lines += [f"**Reminder: {reminder} days left** before the deadline.", ""]
    lines += [
        f"- **Migration:** `{migration.id}` (status: {status})",
        f"- **Why:** {migration.reason or 'no reason given'}",
        f"- **When:** deadline {migration.deadline or 'none set'}"
        + (f"; applied {migration.started_at[:10]}" if migration.started_at else "; not applied yet"),
        f"- **Impact:** {'breaking' if migration.breaking else 'additive'} overall",
    ]
    if migration.new_table:
        lines += [(f"- **New table:** `{migration.new_table}` (backfilled from `{migration.table}`, which is "
                   "dropped when the migration finishes)")]
    if change.kind == "rename_column":
        lines += [(f"- **Grace period:** once applied, queries naming `{change.column}` still read "
                   f"`{change.new_name}` (with a warning) until the migration finishes; then they fail")]
    lines.append("")
    if owner == migration.table_owner:
        lines += [f"You own `{migration.table}`.", ""]
    if not mine:
        lines += ["None of your jobs reads the table; nothing to do.", ""]
    for consumer in mine:
        lines += _consumer_section(migration, consumer, root)
    lines += ["## Progress", "", (f"`towpath migration status {migration.id}` shows each consumer: its code no "
                                  "longer names the old column, and it has run successfully after the change."), ""]
    return "\n".join(lines)


def _consumer_section(migration: Migration, consumer: Consumer, root: Path | None) -> list[str]:
    change = migration.change
    lines = [f"## `{consumer.key}` ({consumer.impact})", ""]
    if consumer.via:
        lines += [f"It reads `{consumer.via}`, computed from `{migration.table}.{change.column}`: its values change.", ""]
    elif consumer.impact == "additive":
        lines += ["Nothing must change; its next successful run confirms it.", ""]
    else:
        todo = {"rename_column": f"use `{change.new_name}` instead of `{change.column}`",
                "drop_column": f"stop reading `{change.column}` (read `{migration.new_table}` once it no longer needs it)",
                "change_type": f"read `{change.column}` as `{change.type}` (from `{migration.new_table}`)"}
        lines += [f"What you must do: {todo.get(change.kind, 'review the lines below')}.", "", "Lines to change:", ""]
        lines += [f"- `{relative(r.at, root)}`: `{r.text}`" for r in consumer.references]
        lines.append("")
        patch = suggested_patch(migration, consumer, root) if change.kind == "rename_column" else ""
        if patch:
            lines += ["Suggested patch:", "", "```diff", patch.rstrip(), "```", ""]
    return lines


def suggested_patch(migration: Migration, consumer: Consumer, root: Path | None = None) -> str:
    """A unified diff renaming the column on exactly the referenced lines of each file."""
    old, new = migration.change.column or "", migration.change.new_name or ""
    word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(old)}(?![A-Za-z0-9_])", re.IGNORECASE)
    by_file: dict[str, set[int]] = {}
    for ref in consumer.references:
        if ref.file and ref.line:
            by_file.setdefault(ref.file, set()).add(ref.line)
    chunks: list[str] = []
    for file, numbers in sorted(by_file.items()):
        try:
            before = Path(file).read_text().splitlines(keepends=True)
        except OSError:
            continue
        after = [word.sub(new, text) if i + 1 in numbers else text for i, text in enumerate(before)]
        shown = relative(file, root)
        chunks += difflib.unified_diff(before, after, fromfile=f"a/{shown}", tofile=f"b/{shown}", n=1)
    return "".join(chunks)


def relative(place: str, root: Path | None) -> str:
    """`place` (a path, or `path:line`) relative to `root` when it is under it."""
    if root is None:
        return place
    try:
        return str(Path(place).relative_to(root))
    except ValueError:
        return place


def _slug(owner: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", owner).strip("-").lower()
