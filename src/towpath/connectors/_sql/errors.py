"""Driver exceptions mapped to towpath errors, declaratively (`ErrorRule` tables), naming the `Resource`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from towpath.errors import ConnectorError, TransientError, first_line


class DatabaseUnreachableError(ConnectorError, TransientError):
    """The database server did not answer at host:port (down, wrong port, firewall).

    Also a `TransientError`: a pipeline's retry policy may try again.
    """


class DatabaseAuthError(ConnectorError):
    """The server refused the login (wrong user, password or database name)."""


class UnknownObjectError(ConnectorError):
    """A table or column named in the connector's settings or query does not exist."""


class DatabaseError(ConnectorError):
    """Any other failure the database reported for the processor's statement."""


class DatabaseTransientError(DatabaseError, TransientError):
    """A failure the database itself says is worth retrying (deadlock, serialization failure, lost connection)."""


@dataclass(frozen=True)
class Resource:
    """What an error message names: the processor, the server and the object it was using."""

    processor: str
    server: str
    """`host:port` (or the file path for SQLite)."""
    user: str | None = None
    database: str | None = None
    obj: str | None = None
    """The table or query the processor was working on."""

    def describe(self) -> str:
        parts = [f"processor '{self.processor}'" if self.processor else "connector"]
        who = f"{self.user}@" if self.user else ""
        db = f"/{self.database}" if self.database else ""
        parts.append(f"database {who}{self.server}{db}")
        if self.obj:
            parts.append(f"object {self.obj}")
        return ", ".join(parts)


@dataclass(frozen=True)
class ErrorRule:
    """Map a driver exception to a towpath error when `match(exc)` says so."""

    driver_error: type[BaseException] | tuple[type[BaseException], ...]
    towpath_error: type[ConnectorError]
    explain: str
    """Sentence fragment appended to the message (what to check next)."""
    match: object = field(default=None)
    """Optional predicate `(exc) -> bool` narrowing the rule (e.g. by SQLSTATE)."""


@contextlib.contextmanager
def map_errors(rules: Sequence[ErrorRule], resource: Resource) -> Iterator[None]:
    """Turn driver exceptions into the most specific towpath error, as httpx's `map_exceptions` does.

    Errors towpath raised on purpose pass through untouched; a driver error no
    rule matches still becomes a `DatabaseError`, never a raw driver exception.
    """
    try:
        yield
    except (ConnectorError, TransientError):
        raise
    except Exception as exc:
        for rule in rules:
            if isinstance(exc, rule.driver_error) and (rule.match is None or rule.match(exc)):  # type: ignore[operator]
                raise rule.towpath_error(f"{resource.describe()}: {rule.explain}: {first_line(exc)}") from exc
        raise DatabaseError(f"{resource.describe()}: {type(exc).__name__}: {first_line(exc)}") from exc
