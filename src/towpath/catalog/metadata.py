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
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pyiceberg.table import Table

from towpath.catalog._catalog import Catalog, normalize_identifier
from towpath.errors import CatalogError

OWNER = "towpath.owner"
TAGS = "towpath.tags"
LIFETIME = "towpath.lifetime-days"
COLUMN_TYPES = "towpath.column-types"
DESCRIPTION = "comment"
HWM = "towpath.hwm"


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
    return _from_properties(catalog.table(identifier).properties, normalize_identifier(identifier))


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
    """Change only the given fields, in one commit; returns the metadata now stored.

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
    if updates:
        _set_properties(catalog, ident, updates)
    return get_metadata(catalog, identifier)


def set_hwm(
    catalog: Catalog, identifier: str, value: dt.datetime | dt.date | str, timezone: str = "UTC"
) -> dt.datetime:
    """Record how far a table's data is complete; returns the stored, time-zone-aware mark.

    A date means midnight of that day in `timezone`; a naive datetime (or ISO string
    without offset) is read in `timezone`. Moving the mark *backwards* is allowed on
    purpose: a restatement of old dates legitimately lowers it, so callers that only
    want to advance must compare with `get_hwm` first.

    Raises:
        CatalogError: the value is not a date/datetime, or the time zone is unknown.
    """
    ident = normalize_identifier(identifier)
    mark = parse_hwm(value, timezone, where=f"table '{ident}'")
    catalog.table(identifier)  # unknown table -> TableNotFoundError before anything is written
    _set_properties(catalog, ident, {HWM: mark.isoformat()})
    return mark


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


def _from_properties(props: dict[str, str], ident: str) -> TableMetadata:
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
