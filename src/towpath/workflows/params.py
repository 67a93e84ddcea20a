"""Built-in parameters of a run and the layering of parameters."""

from __future__ import annotations

import datetime as dt
import getpass
import os
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from towpath.errors import ParameterError


def today_in(timezone: str) -> str:
    """Today's date in `timezone`, ISO formatted."""
    return dt.datetime.now(zone(timezone)).date().isoformat()


def zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ParameterError(f"unknown timezone '{timezone}' (expected an IANA name such as 'UTC' or 'America/Los_Angeles')") from None


def parse_date(value: str, *, field: str = "date") -> dt.date:
    """An ISO date (`2022-01-01`) or its compact form (`20220101`)."""
    text = value.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return dt.datetime.strptime(text, "%Y%m%d").date()
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ParameterError(f"expected a date like 2022-01-01, got '{value}'", field=field) from None


def builtin_params(*, execution_date: str, timezone: str, catalog: str) -> dict[str, str]:
    """`${EXECUTION_DATE}`, `${DATE}`, `${DATE_NODASH}`, `${EXECUTION_TIMEZONE}`, `${CATALOG}`, `${username}`."""
    zone(timezone)
    return {
        "EXECUTION_DATE": execution_date,
        "DATE": execution_date,
        "DATE_NODASH": execution_date.replace("-", ""),
        "EXECUTION_TIMEZONE": timezone,
        "CATALOG": catalog,
        "username": os.environ.get("TOWPATH_USER") or getpass.getuser(),
    }


def execution_date_from(date: str | None, cli: Mapping[str, str], timezone: str) -> str:
    """`--date`, else `-p EXECUTION_DATE=`/`-p DATE=`, else today in the timezone."""
    raw = date or cli.get("EXECUTION_DATE") or cli.get("DATE")
    return parse_date(raw).isoformat() if raw else today_in(timezone)
