"""`${VAR}` substitution with errors that say which variable and where.

Which parameters exist and which layer wins is the workflows room's business
(`towpath.workflows.params`: project params < built-ins < workflow params <
command line `-p` < step parameters). `$${X}` escapes a literal `${X}`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from towpath.errors import ParameterError

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(text: str, params: Mapping[str, str], *, where: str = "") -> str:
    """Replace every `${NAME}` in `text`; an undefined NAME raises `ParameterError`.

    >>> substitute("${DB}.t", {"DB": "foo"})
    'foo.t'
    """

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:  # `$${` escape
            return "${"
        if name not in params:
            known = ", ".join(sorted(params)) or "none"
            place = f" in {where}" if where else ""
            raise ParameterError(f"undefined parameter '${{{name}}}'{place} (defined: {known})")
        return str(params[name])

    return _VAR.sub(repl, text)


def substitute_all(value: Any, params: Mapping[str, str], *, where: str = "") -> Any:
    """Substitute inside every string of a nested dict/list structure."""
    if isinstance(value, str):
        return substitute(value, params, where=where)
    if isinstance(value, dict):
        return {k: substitute_all(v, params, where=f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_all(v, params, where=f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def references(text: str) -> set[str]:
    """Names of the `${VAR}`s used in `text`."""
    return {m.group(1) for m in _VAR.finditer(text) if m.group(1)}


def parse_assignments(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Parse `KEY=VALUE` command-line parameters."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"expected KEY=VALUE, got '{pair}'", field="-p")
        out[key.strip()] = value
    return out


def substitute_script(text: str, params: Mapping[str, str], *, file: object) -> str:
    """Substitute a script's `${VAR}`s; an undefined one is reported at file:line:column."""
    try:
        return substitute(text, params)
    except ParameterError:
        for number, line in enumerate(text.splitlines(), start=1):
            for match in _VAR.finditer(line):
                name = match.group(1)
                if name and name not in params:
                    known = ", ".join(sorted(params)) or "none"
                    raise ParameterError(
                        f"undefined parameter '${{{name}}}' (defined: {known})",
                        file=str(file), line=number, col=match.start() + 1,
                    ) from None
        raise


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> dt.timedelta:
    """`90s`, `30m`, `12h`, `7d`, `2w` (a bare number is seconds) -> a timedelta.

    >>> parse_duration("36h")
    datetime.timedelta(days=1, seconds=43200)
    """
    match = _DURATION.match(text)
    if not match:
        raise ParameterError(f"expected a duration like 30m, 12h or 7d, got '{text}'")
    return dt.timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
