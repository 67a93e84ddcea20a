"""Table metadata (owner, tags, lifetime, column types, description) and high-water marks.

Both live in the Iceberg table's own properties, so they travel with the table
(any Iceberg engine sees them), change in one atomic commit each, and need no
second store to keep in sync:

| property               | holds                                            |
| ---------------------- | ------------------------------------------------ |
| `towpath.owner`        | owning person or team                            |
| `towpath.tags`         | JSON list of strings                             |
| `towpath.lifetime-days`| how long data is kept, in days                   |
| `towpath.column-types` | JSON object: column -> kind (`pk`, `pii`, ...)   |
| `comment`              | description (the same property a DDL `COMMENT` sets) |
| `towpath.hwm`          | high-water mark, ISO-8601 with UTC offset        |
| `towpath.hwm-log`      | JSON list of [main's head snapshot, mark] per move (last 100) |
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pyiceberg.table import Table
from pyiceberg.table.update import SetPropertiesUpdate

from towpath.catalog._catalog import Catalog, normalize_identifier
from towpath.catalog._commit import TableChange
from towpath.errors import CatalogError

OWNER = "towpath.owner"
TAGS = "towpath.tags"
LIFETIME = "towpath.lifetime-days"
COLUMN_TYPES = "towpath.column-types"
DESCRIPTION = "comment"
HWM = "towpath.hwm"
HWM_LOG = "towpath.hwm-log"
HWM_LOG_LENGTH = 100


@dataclass(frozen=True)
class TableMetadata:
    """What a team says about a table, beside its schema."""

    owner: str | None = None
    tags: list[str] = field(default_factory=list)
    lifetime_days: int | None = None
    column_types: dict[str, str] = field(default_factory=dict)
    """Column name -> kind, e.g. `{"title_id": "pk"}`."""
    description: str | None = None


def get_metadata(catalog: Catalog, identifier: str) -> TableMetadata:
    """Read a table's metadata from its properties (missing keys -> empty values)."""
    return metadata_from_properties(catalog.table(identifier).properties, normalize_identifier(identifier))


def set_metadata(
    catalog: Catalog,
    identifier: str,
    *,
    owner: str | None = None,
    tags: list[str] | None = None,
    lifetime_days: int | None = None,
    column_types: dict[str, str] | None = None,
    description: str | None = None,
) -> TableMetadata:
    """Change only the given fields, in one commit (none if they already hold those values);
    returns the metadata now stored.

    Raises:
        CatalogError: a `column_types` key is not a column of the table (names close matches),
            or `lifetime_days` is not positive.
    """
    ident = normalize_identifier(identifier)
    table = catalog.table(identifier)
    updates: dict[str, str] = {}
    if owner is not None:
        updates[OWNER] = owner
    if tags is not None:
        updates[TAGS] = json.dumps(list(dict.fromkeys(tags)))
    if lifetime_days is not None:
        if lifetime_days <= 0:
            raise CatalogError(f"table '{ident}': lifetime_days must be a positive number of days, got {lifetime_days}")
        updates[LIFETIME] = str(lifetime_days)
    if column_types is not None:
        columns = [f.name for f in table.schema().fields]
        by_lower = {c.lower(): c for c in columns}
        for name in column_types:
            if name.lower() not in by_lower:
                close = difflib.get_close_matches(name, columns, n=3)
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else f"; columns: {columns}"
                raise CatalogError(f"table '{ident}': column_types names unknown column '{name}'{hint}")
        updates[COLUMN_TYPES] = json.dumps({by_lower[k.lower()]: v for k, v in column_types.items()}, sort_keys=True)
    if description is not None:
        updates[DESCRIPTION] = description
    current = table.properties
    changed = {key: value for key, value in updates.items() if current.get(key) != value}
    if changed:  # a daily rerun of the metadata step commits nothing (and adds no metadata file)
        _set_properties(catalog, ident, changed)
    return metadata_from_properties({**current, **changed}, ident)


@dataclass(frozen=True)
class HwmChange:
    """What a `set_hwm` did: the mark asked for, the one before, and the one now stored."""

    table: str
    requested: dt.datetime
    previous: dt.datetime | None
    stored: dt.datetime

    @property
    def moved(self) -> bool:
        """False when a newer mark was left in place (the request was older)."""
        return self.stored == self.requested and self.previous != self.requested

    @property
    def kept_newer(self) -> bool:
        return self.stored != self.requested


def set_hwm(
    catalog: Catalog,
    identifier: str,
    value: dt.datetime | dt.date | str,
    timezone: str = "UTC",
    *,
    force: bool = False,
) -> HwmChange:
    """Move a table's high-water mark forward to `value` (a date means midnight in `timezone`).

    Consumers read the mark as "complete up to here", so it only moves forward:
    an older `value` (a backfill, a lookback day, a parallel run finishing last)
    leaves the newer mark in place, and the returned change says so. `force`
    moves it back on purpose (a restatement). The compare and the write are one
    optimistic commit, so two writers cannot interleave between them. Every
    mark is also logged with `main`'s head at that moment (`towpath.hwm-log`),
    so a rollback can restore the mark that belonged to a snapshot.

    Raises:
        CatalogError: the value is not a date/datetime, or the time zone is unknown.
    """
    ident = normalize_identifier(identifier)
    mark = parse_hwm(value, timezone, where=f"table '{ident}'")

    def commit(table: Table) -> HwmChange:
        raw = table.properties.get(HWM)
        previous = dt.datetime.fromisoformat(raw) if raw else None
        if previous is not None and previous >= mark and not force:
            return HwmChange(ident, mark, previous, previous)
        updates = {HWM: mark.isoformat(), HWM_LOG: _logged(table, mark)}
        catalog.commit_tables([TableChange(table, (), (SetPropertiesUpdate(updates=updates),))])
        return HwmChange(ident, mark, previous, mark)

    return catalog.commit_with_retry(ident, commit, what="moving its high-water mark")


def hwm_for_snapshot(table: Table, snapshot_id: int) -> dt.datetime | None:
    """The mark that was current while `snapshot_id` (or its newest logged ancestor) was `main`'s head."""
    from towpath.catalog.branches import is_ancestor

    for logged_snapshot, mark in reversed(_hwm_log(table)):
        if is_ancestor(table, logged_snapshot, snapshot_id):
            return dt.datetime.fromisoformat(mark)
    return None


def _hwm_log(table: Table) -> list[tuple[int | None, str]]:
    try:
        entries = json.loads(table.properties.get(HWM_LOG) or "[]")
    except json.JSONDecodeError:
        return []
    return [(e[0], e[1]) for e in entries if isinstance(e, list) and len(e) == 2]


def _logged(table: Table, mark: dt.datetime) -> str:
    head = table.snapshot_by_name("main")
    entries = [*_hwm_log(table), (head.snapshot_id if head else None, mark.isoformat())]
    return json.dumps([list(e) for e in entries[-HWM_LOG_LENGTH:]])


def get_hwm(catalog: Catalog, identifier: str) -> dt.datetime | None:
    """The table's high-water mark (time-zone aware), or None if none was set."""
    raw = catalog.table(identifier).properties.get(HWM)
    return dt.datetime.fromisoformat(raw) if raw else None


def parse_hwm(value: dt.datetime | dt.date | str, timezone: str = "UTC", *, where: str = "high-water mark") -> dt.datetime:
    """A date, datetime or ISO string as an aware datetime in `timezone` (dates: midnight)."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CatalogError(f"{where}: unknown time zone '{timezone}' (use an IANA name such as 'UTC' or 'Europe/Berlin')") from None
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed: dt.datetime | dt.date = (
                dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
            )
        except ValueError:
            raise CatalogError(
                f"{where}: high-water mark '{value}' is not an ISO date or datetime (e.g. 2024-01-31 or 2024-01-31T06:00:00+00:00)"
            ) from None
        value = parsed
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=tz)
    raise CatalogError(f"{where}: a high-water mark must be a date, datetime or ISO string, got {type(value).__name__}")


def _set_properties(catalog: Catalog, ident: str, updates: dict[str, str]) -> None:
    def commit(table: Table) -> None:
        with table.transaction() as tx:
            tx.set_properties(updates)

    catalog.commit_with_retry(ident, commit, what="updating its properties")


def metadata_from_properties(props: dict[str, str], ident: str) -> TableMetadata:
    """`get_metadata` of a loaded table's properties."""

    def _json(key: str, default: object) -> object:
        raw = props.get(key)
        if not raw:
            return default
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise CatalogError(f"table '{ident}': property '{key}' is not valid JSON: {raw[:60]!r}") from None

    tags = _json(TAGS, [])
    column_types = _json(COLUMN_TYPES, {})
    lifetime = props.get(LIFETIME)
    return TableMetadata(
        owner=props.get(OWNER),
        tags=[str(t) for t in tags] if isinstance(tags, list) else [],
        lifetime_days=int(lifetime) if lifetime and lifetime.isdigit() else None,
        column_types={str(k): str(v) for k, v in column_types.items()} if isinstance(column_types, dict) else {},
        description=props.get(DESCRIPTION),
    )
