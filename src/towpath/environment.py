"""Environments: the names a deployment is known by, and which one a command runs in.

An environment is where a git branch's deployment writes (`towpath project deploy`):
its own copy of every table it writes, named by a namespace suffix
(`lake.orders` -> `lake__feature_x.orders`, `towpath.catalog.env_tables`), its
own runs in the state room. Production is no environment (None). This module
is a small vocabulary every room may import (the CLI, `Project`, the catalog,
the state room and the scheduler) without loading the catalog.
"""

from __future__ import annotations

import os
import re

from towpath.errors import CatalogError

ENV_VARIABLE = "TOWPATH_ENV"
"""The environment variable that selects an environment when `--env` is not given."""
PRODUCTION_NAMES = frozenset({"main", "master"})
"""Git branches that ARE production: deploying them deploys production."""
SEPARATOR = "__"
"""Between a namespace and an environment name (`lake__feature_x`); production namespaces must not contain it."""
MAX_NAME_LENGTH = 48

_INVALID = re.compile(r"[^a-z0-9]+")


class EnvError(CatalogError):
    """A bad environment name, an unknown environment, or a write in one that would reach production."""


def environment_name(raw: str) -> str | None:
    """The environment a name (a git branch, `--env`) stands for; None is production.

    Lower case, every run of other characters one `_` (`feature/Orders-2` ->
    `feature_orders_2`), so it is a valid namespace suffix on every catalog.

    >>> environment_name("feature/Orders-2"), environment_name("main")
    ('feature_orders_2', None)

    Raises:
        EnvError: nothing is left of the name.
    """
    name = _INVALID.sub("_", raw.strip().lower()).strip("_")
    if raw.strip() in PRODUCTION_NAMES or name in PRODUCTION_NAMES:
        return None
    if not name:
        raise EnvError(f"'{raw}' is not an environment name (use letters, digits, '-', '_' or '/')")
    return name[:MAX_NAME_LENGTH].rstrip("_")


def resolve_env(explicit: str | None = None) -> str | None:
    """The environment a command runs in: `explicit` (`--env`), else `$TOWPATH_ENV`, else production (None).

    The one resolution every entry point uses (CLI, `Project`, the scheduler and the
    worker's forks, which inherit the caller's environment variables).
    """
    raw = explicit if explicit is not None else os.environ.get(ENV_VARIABLE, "")
    return environment_name(raw) if raw.strip() else None


def env_identifier(identifier: str, env: str) -> str:
    """`lake.orders` -> `lake__feature_x.orders`: where environment `env` keeps its copy."""
    namespace, _, table = identifier.rpartition(".")
    return f"{namespace}{SEPARATOR}{env}.{table}"


def split_identifier(physical: str) -> tuple[str, str | None]:
    """`lake__feature_x.orders` -> (`lake.orders`, `feature_x`); a production table -> (itself, None)."""
    namespace, _, table = physical.rpartition(".")
    base, sep, env = namespace.partition(SEPARATOR)
    return (f"{base}.{table}", env) if sep and env else (physical, None)
