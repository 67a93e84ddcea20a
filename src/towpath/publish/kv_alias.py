"""Write-Audit-Publish for key-value stores: a new namespace per version behind an alias.

`stage()` records the next version of the alias in the state room (status
`started`, naming its namespace) and only then creates the namespace, so a
crash at any point leaves a record that names what to clean up. The caller
writes every key into `Staged.name` and audits it there; readers of the alias
never see it. `publish()` marks the version `online` (complete and audited) and
repoints the alias in the store in one atomic call, refusing with
`ConflictError` when the alias moved since `stage()` (another move published
first). The alias is the store's; the state room's `KvAlias` mirrors it and is
reconciled from the store by `towpath move status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from towpath.errors import ConflictError
from towpath.publish.base import Published, Staged

if TYPE_CHECKING:
    from towpath.kv import KvStore
    from towpath.state import KvVersion, StateStore


class KvAliasPublisher:
    """Publishes whole namespace versions of one alias of a `KvStore`."""

    KIND: ClassVar[str] = "kv-alias"

    def __init__(self, store: KvStore, state: StateStore, alias: str, *, run_id: str | None = None) -> None:
        self.store, self.state, self.alias, self.run_id = store, state, alias, run_id
        self._staged: dict[str, tuple[KvVersion, str | None]] = {}

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.alias,)

    def stage(self, name: str, *, attempt: int, details: Mapping[str, Any] | None = None) -> Staged:
        """Record version N of the alias as `started` with namespace `name`, then create the namespace."""
        before = self.store.alias(self.alias)
        version = self.state.kv.new_version(self.alias, run_id=self.run_id)
        version = self.state.kv.set_status(
            self.alias, version.version, "started", details={**(details or {}), "kv_namespace": name, "attempt": attempt},
        )
        try:
            self.store.create_namespace(name)
        except BaseException as exc:  # refused (a missing token, a name in use): the version never existed
            self.state.kv.set_status(self.alias, version.version, "error", details={
                **version.details, "reason": f"cannot create {name}: {exc}", "dropped": True})
            raise
        self._staged[name] = (version, before)
        return Staged(name=name, attempt=attempt, refs={self.alias: name})

    def version(self, staged: Staged) -> KvVersion:
        return self._staged[staged.name][0]

    def publish(self, staged: Staged, *, rows: int | None = None, details: Mapping[str, Any] | None = None) -> Published:
        """Mark the version online and point the alias at it (one atomic alias set in the store)."""
        version, before = self._staged[staged.name]
        current = self.store.alias(self.alias)
        if current != before:
            raise ConflictError(
                f"alias '{self.alias}' moved from {before or 'nothing'} to {current} while {staged.name} was written"
            )
        merged = {**version.details, **(details or {})}
        self.state.kv.set_status(self.alias, version.version, "online", rows=rows, details=merged)
        self.store.set_alias(self.alias, staged.name)
        self.state.kv.swap_alias(self.alias, self.alias, version.version)
        return Published(versions={self.alias: version.version})

    def discard(self, staged: Staged, reason: str = "discarded") -> None:
        """Drop the namespace and mark the version `error` (idempotent, never raises for the drop).

        When the store cannot drop it now (it went away mid-move), the version
        stays marked `dropped: false` and the next move's recovery drops it.
        """
        from towpath.kv import KvError, NamespaceNotFoundError

        version, _ = self._staged[staged.name]
        dropped, why = True, reason
        try:
            self.store.drop_namespace(staged.name)
        except NamespaceNotFoundError:
            pass
        except KvError as exc:
            dropped, why = False, f"{reason}; dropping {staged.name} failed ({exc}), the next move retries"
        current = self.state.kv.version(self.alias, version.version)
        self.state.kv.set_status(self.alias, version.version, "error",
                                 details={**current.details, "reason": why, "dropped": dropped})

    def keep(self, staged: Staged, reason: str) -> None:
        """Leave a version that failed its audits in the store for inspection (retention drops it later)."""
        version, _ = self._staged[staged.name]
        current = self.state.kv.version(self.alias, version.version)
        self.state.kv.set_status(self.alias, version.version, "error",
                                 details={**current.details, "reason": reason, "kept": True})
