"""Results as JSON values: the one conversion `--json` and the console's JSON pages share.

Rooms hand back dataclasses, pydantic models, dates and decimals; scripts read
them as JSON. Keeping the conversion in one place means `towpath runs show --json`
and `GET /runs/<id>` with `Accept: application/json` print the same document.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any

__all__ = ["to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Results as JSON values: an object's own `to_dict()` if it has one, dataclasses with their fields
    and read-only properties (`ok`, `failed_audits`, ...), dates, decimals and bytes."""
    if callable(getattr(value, "to_dict", None)):
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        derived = {name: getattr(value, name) for name, attr in vars(type(value)).items()
                   if isinstance(attr, property) and not name.startswith("_")}
        return {k: to_jsonable(v) for k, v in {**dataclasses.asdict(value), **derived}.items()}
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value
