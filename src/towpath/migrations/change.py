"""What a migration changes about a table, and whether that breaks a consumer.

| change            | additive for a consumer when                           |
| ---               | ---                                                    |
| `add_column`      | always                                                 |
| `drop_column C`   | its code never names C                                 |
| `rename_column A` | its code never names A                                 |
| `change_type C T` | T widens C (int -> long, float -> double, decimal(p,s) -> decimal(p',s) with p' >= p), or its code never names C |
| `repartition`     | always (Iceberg partition evolution rewrites no data and changes no query's result) |
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from towpath.migrations.errors import MigrationError

__all__ = ["Change", "ChangeKind", "is_widening"]

ChangeKind = Literal["add_column", "drop_column", "rename_column", "change_type", "repartition"]


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    column: str | None = None
    """The column changed (added, dropped, renamed from, retyped); None for a repartition."""
    new_name: str | None = None
    """A rename's new name."""
    type: str | None = None
    """An added column's type, or a type change's new type (Spark SQL spelling: `bigint`, `decimal(12,2)`)."""
    partition: str | None = None
    """A repartition's spec: `country_code`, `day(ts)`, `bucket(16, id)`, ... (comma-separated)."""

    def describe(self) -> str:
        return {
            "add_column": f"add column {self.column} {self.type}",
            "drop_column": f"drop column {self.column}",
            "rename_column": f"rename column {self.column} to {self.new_name}",
            "change_type": f"change the type of {self.column} to {self.type}",
            "repartition": f"partition by {self.partition}",
        }[self.kind]

    @property
    def touched(self) -> str | None:
        """The existing column a consumer's code may name (None: the change touches none)."""
        return None if self.kind in ("add_column", "repartition") else self.column

    def breaks(self, names_column: bool, current_type: str | None = None) -> bool:
        """Whether the change breaks a consumer whose code names the touched column (`names_column`)."""
        if self.kind in ("add_column", "repartition") or not names_column:
            return False
        if self.kind == "change_type":
            return not (current_type is not None and self.type is not None and is_widening(current_type, self.type))
        return True

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return cls(**data)


_WIDER = {("int", "long"), ("integer", "long"), ("int", "bigint"), ("float", "double"), ("integer", "bigint")}
_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")


def is_widening(have: str, want: str) -> bool:
    """Iceberg's safe type promotions (the ones `update_column` allows without rewriting data)."""
    have, want = have.strip().lower(), want.strip().lower()
    if have == want or (have, want) in _WIDER:
        return True
    a, b = _DECIMAL.fullmatch(have), _DECIMAL.fullmatch(want)
    return bool(a and b and a.group(2) == b.group(2) and int(b.group(1)) >= int(a.group(1)))


def one_change(*, add: tuple[str, str] | None, drop: str | None, rename: tuple[str, str] | None,
               retype: tuple[str, str] | None, repartition: str | None) -> Change:
    """The one change the command line asks for (exactly one option must be given)."""
    given = [c for c in (
        Change("add_column", column=add[0], type=add[1]) if add else None,
        Change("drop_column", column=drop) if drop else None,
        Change("rename_column", column=rename[0], new_name=rename[1]) if rename else None,
        Change("change_type", column=retype[0], type=retype[1]) if retype else None,
        Change("repartition", partition=repartition) if repartition else None,
    ) if c is not None]
    if len(given) != 1:
        raise MigrationError("give exactly one change: --add-column NAME TYPE, --drop-column C, "
                             "--rename-column A B, --change-type C T or --repartition SPEC")
    change = given[0]
    for name in (change.column, change.new_name):
        if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise MigrationError(f"'{name}' is not a column name (letters, digits and _, not starting with a digit)")
    return change
