"""Built-in parameters of a run, assembled in one place.

Precedence, lowest first (docs/workflows.md, "Parameters"): project `params:` <
built-ins < the workflow's `params:` < command line `-p` < a step's `parameters:`.
The per-run built-ins (`PER_RUN_BUILTINS`) cannot be redefined by any layer.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from towpath.config.params import references
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
    """An ISO date (`2022-01-01`) or its compact form (`20220101`); a day that does not exist is refused.

    >>> parse_date("20220228")
    datetime.date(2022, 2, 28)
    """
    text = value.strip()
    match = _DATE.match(text)
    if not match:
        raise ParameterError(f"expected a date like 2022-01-01, got '{value}'", field=field)
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError as exc:  # the shape is right, the day is not: 2022-02-30
        raise ParameterError(f"expected a date like 2022-01-01, got '{value}' ({exc})", field=field) from None


_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


BUILTINS = ("EXECUTION_DATE", "DATE", "DATE_NODASH", "EXECUTION_TIMEZONE", "CATALOG", "username", "RUN_ID")
"""Every parameter towpath defines for a run (docs/workflows.md, "Parameters")."""

PER_RUN_BUILTINS = ("EXECUTION_DATE", "DATE", "DATE_NODASH", "RUN_ID")
"""Built-ins that change with every run: neither `params:` nor `-p` may redefine them
(`-p DATE=`/`-p EXECUTION_DATE=` choose the run's date instead)."""


def builtin_params(*, execution_date: str, timezone: str, catalog: str, run_id: str) -> dict[str, str]:
    """Every built-in parameter of one run: the only place they are assembled.

    The runner, the unit-test harness and the validator all call this, so a
    `${NAME}` that resolves in a unit test or in `project validate` resolves in a
    real run too. `CATALOG` is the project's `name`; `username` is `$TOWPATH_USER`,
    else the login name.

    Raises:
        ParameterError: the time zone is unknown.
    """
    zone(timezone)
    return {
        "EXECUTION_DATE": execution_date,
        "DATE": execution_date,
        "DATE_NODASH": execution_date.replace("-", ""),
        "EXECUTION_TIMEZONE": timezone,
        "CATALOG": catalog,
        "username": os.environ.get("TOWPATH_USER") or getpass.getuser(),
        "RUN_ID": run_id,
    }


def execution_date_from(date: str | None, cli: Mapping[str, str], timezone: str) -> str:
    """`--date`, else `-p EXECUTION_DATE=`/`-p DATE=`, else today in the timezone."""
    for name, raw in (("--date", date), ("-p EXECUTION_DATE", cli.get("EXECUTION_DATE")), ("-p DATE", cli.get("DATE"))):
        if raw:
            return parse_date(raw, field=name).isoformat()
    return today_in(timezone)


def split_params(
    path: Path, own: Mapping[str, str], params: Mapping[str, str] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(command-line parameters main must use, parameters passed down unchecked) for a daily or backfill file.

    The file's own `params:` and the `-p` names the file itself references are
    passed down without requiring main to use them.
    """
    used_here = references(path.read_text())
    given = dict(params or {})
    inherited = {**own, **{k: v for k, v in given.items() if k in used_here}}
    return {k: v for k, v in given.items() if k not in used_here}, inherited
