"""The CLI-wide guard: every way a command can end becomes one exit code and one line (or JSON).

A `TowpathError` is a user's mistake or an environment problem towpath
explains: one line, exit 1. A usage error is Click's: exit 2. Anything else is
a bug in towpath: one line that says so, exit 70 (`EX_SOFTWARE`), and the
traceback under `-v`. Ctrl-C is exit 130. With `--json` the same facts go to
stdout as one JSON object, so a script never has to parse a message.
"""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import Any

import click

from towpath.errors import TowpathError, first_line


class ExitCode(IntEnum):
    """What `towpath` returns to the shell (also listed in `towpath --help` and docs/cli.md)."""

    OK = 0
    ERROR = 1
    """A towpath error (bad spec, missing table, failed run or audit, unwritable path, ...)."""
    USAGE = 2
    """The command line itself is wrong: unknown command or option, bad option value."""
    INTERNAL = 70
    """A bug in towpath (an exception towpath did not expect); `-v` shows its traceback."""
    INTERRUPTED = 130
    """Ctrl-C (SIGINT)."""


EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code.value:<4} {label}" for code, label in (
        (ExitCode.OK, "ok"), (ExitCode.ERROR, "error, or a failed run or audit"),
        (ExitCode.USAGE, "usage error (unknown command or option, bad value)"),
        (ExitCode.INTERNAL, "internal error: a bug in towpath (run with -v for the traceback)"),
        (ExitCode.INTERRUPTED, "interrupted (Ctrl-C)"),
    )
) + "\n\n--json prints a command's result, or its error, as JSON on stdout.\n-v shows logs and full tracebacks."
"""The epilog of `towpath --help`."""

_FIELDS = ("file", "line", "col", "field")
"""Where a spec or SQL error points; always present in JSON errors (null when unknown)."""


def wants_json(args: list[str]) -> bool:
    """Whether `--json` was given to the command (before any `--`), so errors are JSON too."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def report(exc: BaseException, *, verbose: bool, as_json: bool) -> int:
    """Print how the command ended because of `exc` and return the exit code for it."""
    if isinstance(exc, click.exceptions.Abort):
        interrupted = isinstance(exc.__context__, KeyboardInterrupt)
        code = ExitCode.INTERRUPTED if interrupted else ExitCode.ERROR
        return _emit("interrupted" if interrupted else "aborted", type(exc).__name__, code, as_json=as_json)
    if isinstance(exc, click.ClickException):
        if as_json:
            return _emit(exc.format_message(), type(exc).__name__, exc.exit_code, as_json=True)
        exc.show()
        return exc.exit_code
    if verbose:
        import traceback  # here, like json below: every `towpath --help` imports this module

        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, TowpathError):
        return _emit(str(exc), type(exc).__name__, ExitCode.ERROR, as_json=as_json, extras=_extras(exc))
    message = f"internal error: {type(exc).__name__}: {first_line(exc)}"
    if not verbose:
        message += " (run with -v for the traceback)"
    return _emit(message, type(exc).__name__, ExitCode.INTERNAL, as_json=as_json)


def error_payload(message: str, kind: str, extras: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON object of an error: message, type, where it points, and any structured facts."""
    return {"error": message, "type": kind, **dict.fromkeys(_FIELDS), **(extras or {})}


def _extras(exc: TowpathError) -> dict[str, Any]:
    """The facts an error keeps as attributes (file, line, field, suggestions, several errors, ...)."""
    from towpath.jsonable import to_jsonable

    facts = {k: v for k, v in vars(exc).items() if not k.startswith("_") and k != "msg"}
    if "errors" in facts:
        facts["errors"] = [error_payload(str(e), type(e).__name__, _extras(e)) for e in facts["errors"]]
    return {k: to_jsonable(v) for k, v in facts.items()}


def _emit(message: str, kind: str, code: int, *, as_json: bool, extras: dict[str, Any] | None = None) -> int:
    if as_json:
        import json

        click.echo(json.dumps(error_payload(message, kind, extras), indent=2, default=str))
    else:
        click.secho(f"error: {message}", fg="red", err=True)
    return code
