"""The versions of an alias: listing, crash recovery, rollback and retention.

The state room's `KvLedger` holds each version's history (status, source
snapshot, row count, audits, the proto schema with its field numbers, the
store namespace); the store holds the data and the alias readers follow. These
functions keep the two in step:

- `recover`: a version still `started` whose run is dead (kill -9, OOM, power
  loss; the state room reconciles runs by pid and heartbeat) is partial: its
  namespace is dropped and it becomes `error`. The alias was never moved to
  it, so readers stayed on the last complete version all along. The ledger's
  alias is re-read from the store (a crash between the store's alias set and
  the ledger's record of it).
- `rollback`: point the alias at the previous complete version (or a named one).
- `apply_retention`: drop complete versions beyond `keep_versions`, never the
  current one, the rollback target (the newest complete version older than the
  current) nor what readers saw before the last swap; and failed versions kept
  for inspection once they are older than every kept version.
- `recorded_schema`: the proto schema a version was written with, so a reader
  (`towpath kv get`) decodes without being handed the generated module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from towpath.errors import TowpathError
from towpath.status import Status

if TYPE_CHECKING:
    from towpath.kv import KvStore
    from towpath.protobuf import ProtoSchema
    from towpath.state import KvVersion, StateStore

STARTED, ONLINE, ERROR, RETIRED = "started", "online", "error", "retired"
_VERSIONED = re.compile(r"^(?P<alias>.+)_\d{14}$")
"""A version's namespace: `<alias>_<YYYYMMDDhhmmss>`."""


class MoveError(TowpathError):
    """A move, rollback or status request that cannot proceed (named alias, version, reason)."""


@dataclass(frozen=True)
class VersionView:
    """One version as `move versions` shows it."""

    version: int
    namespace: str
    status: str
    current: bool
    rows: int | None
    created_at: str
    source: dict[str, Any]
    audits: list[dict[str, Any]]
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def namespace_of(version: KvVersion) -> str:
    return str(version.details.get("kv_namespace", ""))


def current_version(store: KvStore, state: StateStore, alias: str) -> KvVersion | None:
    """The version the store's alias points at (None: the alias does not exist yet)."""
    target = store.alias(alias)
    if target is None:
        return None
    for version in reversed(state.kv.versions(alias)):
        if namespace_of(version) == target:
            return version
    return None


def previous_complete(state: StateStore, alias: str, current: KvVersion | None) -> KvVersion | None:
    """The newest complete version older than the current one (the default rollback target)."""
    older = [v for v in state.kv.versions(alias) if v.status == ONLINE and (current is None or v.version < current.version)]
    return older[-1] if older else None


def recover(store: KvStore, state: StateStore, alias: str, *, own_run: str | None = None) -> list[str]:
    """Drop the namespaces of `alias`'s interrupted versions; returns what was dropped.

    Raises:
        MoveError: another move of the alias is running now.
    """
    from towpath.kv import NamespaceNotFoundError

    dropped = []
    for version in state.kv.versions(alias):
        if version.status == ERROR and version.details.get("dropped") is False and not version.details.get("kept"):
            dropped += _drop_leftover(store, state, alias, version)  # a failed move could not drop it then
            continue
        if version.status != STARTED or version.run_id == own_run:
            continue
        run_status = state.run_status(version.run_id) if version.run_id else Status.KILLED
        if run_status is Status.RUNNING:
            raise MoveError(
                f"another move of '{alias}' is running (version {version.version}, run {version.run_id}); "
                "wait for it or stop it"
            )
        name = namespace_of(version)
        try:
            store.drop_namespace(name)
        except NamespaceNotFoundError:
            pass
        state.kv.set_status(alias, version.version, ERROR, details={
            **version.details, "reason": f"interrupted: run {version.run_id} is {run_status.value if run_status else 'gone'}",
            "dropped": True,
        })
        dropped.append(name)
    _mirror_alias(store, state, alias)
    return dropped


def _drop_leftover(store: KvStore, state: StateStore, alias: str, version: KvVersion) -> list[str]:
    from towpath.kv import NamespaceNotFoundError

    name = namespace_of(version)
    try:
        store.drop_namespace(name)
    except NamespaceNotFoundError:
        pass
    state.kv.set_status(alias, version.version, ERROR, details={**version.details, "dropped": True})
    return [name]


def _mirror_alias(store: KvStore, state: StateStore, alias: str) -> None:
    current = current_version(store, state, alias)
    recorded = state.kv.alias(alias)
    if current is not None and current.status == ONLINE and (recorded is None or recorded.version != current.version):
        state.kv.swap_alias(alias, alias, current.version)


def rollback(store: KvStore, state: StateStore, alias: str, to: int | None = None) -> tuple[KvVersion, KvVersion]:
    """Point `alias` at version `to` (default: the previous complete one); returns (from, to).

    Raises:
        MoveError: no such version, it is not complete, or there is nothing to roll back to.
    """
    recover(store, state, alias)
    current = current_version(store, state, alias)
    if current is None:
        raise MoveError(f"alias '{alias}' points at no version yet (run `towpath move run` first)")
    if to is None:
        target = previous_complete(state, alias, current)
        if target is None:
            raise MoveError(f"alias '{alias}' has no complete version older than v{current.version} to roll back to")
    else:
        known = {v.version: v for v in state.kv.versions(alias)}
        if to not in known:
            raise MoveError(f"alias '{alias}' has no version {to} (versions: {', '.join(map(str, known)) or 'none'})")
        target = known[to]
        if target.status != ONLINE:
            raise MoveError(f"version {to} of '{alias}' is {target.status}, not a complete version; cannot point readers at it")
        if target.version == current.version:
            raise MoveError(f"alias '{alias}' already points at version {to}")
    store.set_alias(alias, namespace_of(target))
    state.kv.swap_alias(alias, alias, target.version)
    return current, target


def apply_retention(store: KvStore, state: StateStore, alias: str, keep_versions: int) -> list[str]:
    """Drop versions beyond the newest `keep_versions` complete ones; never the current or the rollback target."""
    from towpath.kv import NamespaceInUseError, NamespaceNotFoundError

    current = current_version(store, state, alias)
    protected = {v.version for v in (current, previous_complete(state, alias, current)) if v is not None}
    recorded = state.kv.alias(alias)
    if recorded is not None and recorded.previous_version is not None:
        protected.add(recorded.previous_version)  # what readers saw before the last swap
    versions = state.kv.versions(alias)
    complete = [v for v in versions if v.status == ONLINE]
    kept = {v.version for v in complete[-keep_versions:]} | protected
    oldest_kept = min(kept, default=0)
    doomed = [v for v in complete if v.version not in kept]
    doomed += [v for v in versions if v.status == ERROR and v.details.get("kept") and v.version < oldest_kept]
    dropped = []
    for version in doomed:
        name = namespace_of(version)
        try:
            store.drop_namespace(name)
        except NamespaceNotFoundError:
            pass
        except NamespaceInUseError:  # another alias points at it: leave it
            continue
        state.kv.set_status(alias, version.version, RETIRED if version.status == ONLINE else ERROR,
                            details={**version.details, "dropped": True, "kept": False})
        dropped.append(name)
    return dropped


def list_versions(store: KvStore, state: StateStore, alias: str) -> list[VersionView]:
    """Every version of `alias`, oldest first, after recovering interrupted ones."""
    recover(store, state, alias)
    current = current_version(store, state, alias)
    views = []
    for v in state.kv.versions(alias):
        details = v.details
        views.append(VersionView(
            version=v.version, namespace=namespace_of(v), status=v.status,
            current=current is not None and v.version == current.version, rows=v.rows, created_at=v.created_at,
            source=details.get("source", {}), audits=details.get("audits", []), reason=details.get("reason"),
        ))
    return views


def recorded_schema(store: KvStore, state: StateStore, name: str) -> ProtoSchema | None:
    """The proto schema the state room recorded for `name`, or None when no move wrote it.

    `name` is an alias (the version the store's alias points at; else the
    alias's newest version with a schema) or a version's own namespace
    `<alias>_<YYYYMMDDhhmmss>`.
    """
    from towpath.protobuf import ProtoSchema

    versions = state.kv.versions(name)
    if versions:
        target = store.alias(name)
        chosen = [v for v in versions if namespace_of(v) == target] or versions
    elif (match := _VERSIONED.match(name)) is not None:
        chosen = [v for v in state.kv.versions(match["alias"]) if namespace_of(v) == name]
    else:
        chosen = []
    for version in reversed(chosen):
        if proto := version.details.get("proto"):
            return ProtoSchema.from_json(proto)
    return None


def move_status(store: KvStore, state: StateStore, alias: str) -> dict[str, Any]:
    """Which version `alias`'s readers see (after dropping partial versions of interrupted moves),
    its key count, and the failed versions newer than it: `towpath move status`."""
    recovered = recover(store, state, alias)
    views = list_versions(store, state, alias)
    keys = store.count(alias) if store.alias(alias) else None
    current = next((v for v in views if v.current), None)
    return {
        "namespace": alias, "current": current.to_json() if current else None, "keys": keys,
        "versions": len(views), "recovered": recovered,
        "failed": [v.to_json() for v in views if v.status == ERROR and v.version > (current.version if current else 0)],
    }
