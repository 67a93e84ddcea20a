"""`Project`: the Python front door. Everything the CLI does goes through here.

A project is a folder with `towpath.yaml`. The catalog, engine and run store
are opened lazily, so commands that need only one of them stay fast.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from towpath.config import (
    DEFAULT_PROJECT_YAML,
    PROJECT_FILE,
    STATE_DIR,
    ProjectConfig,
    find_project_root,
    load_project_config,
)
from towpath.errors import OutputPathError, SpecError

if TYPE_CHECKING:
    import pyarrow as pa

    from towpath.catalog import Catalog, CompactResult, GcResult, HwmChange, Rollback
    from towpath.engines import Engine
    from towpath.federation import Federation
    from towpath.publish import WapBranch
    from towpath.state import StateStore
    from towpath.workflows import BackfillResult, DailyResult, DryRun, RunResult


class Project:
    """A towpath project folder: its config, Iceberg catalog, engine and run history."""

    def __init__(self, root: Path | str, config: ProjectConfig | None = None, *, env: str | None = None) -> None:
        from towpath.environment import resolve_env

        self.root = Path(root).resolve()
        self.config = config if config is not None else load_project_config(self.root)
        self.env = resolve_env(env)
        """The environment this project reads and writes (`--env`, else `$TOWPATH_ENV`; None: production).
        Its catalog writes the environment's copies of tables and its state records the environment's runs."""
        self._engine_lock = threading.Lock()

    @classmethod
    def find(cls, start: Path | str = ".", *, env: str | None = None) -> Project:
        """The project whose `towpath.yaml` is at or above `start` (in environment `env`, see `__init__`)."""
        return cls(find_project_root(start), env=env)

    @classmethod
    def init(cls, path: Path | str = ".", *, name: str | None = None, exist_ok: bool = False) -> Project:
        """Create a project folder with a default `towpath.yaml` (refuses to overwrite one)."""
        root = Path(path).resolve()
        target = root / PROJECT_FILE
        if target.exists() and not exist_ok:
            raise SpecError(f"{target} already exists; this folder is already a towpath project")
        try:
            root.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.write_text(DEFAULT_PROJECT_YAML.format(name=name or root.name))
            ignore = root / ".gitignore"
            if not ignore.exists():
                ignore.write_text(f"{STATE_DIR}/\n")
        except OSError as exc:
            raise OutputPathError(Path(exc.filename or target), exc) from None
        return cls(root)

    # -- rooms, opened lazily --------------------------------------------------------------------

    @cached_property
    def catalog(self) -> Catalog:
        from towpath.catalog import Catalog

        return Catalog.open(self.config, self.root, self.env)

    @cached_property
    def state(self) -> StateStore:
        """Runs, job runs, audits and ledgers: `towpath.yaml`'s `state` file (SQLite) or URL (Postgres)."""
        from towpath.state import StateStore

        return StateStore(self.config.resolve(self.root, self.config.state), env=self.env)

    def new_engine(self) -> Engine:
        """A fresh engine on this project's catalog (one per concurrent run)."""
        from towpath.engines import get_engine

        return get_engine(self.config.engine, self.catalog)

    @cached_property
    def engine(self) -> Engine:
        """The project's shared engine (for queries from Python or the CLI)."""
        return self.new_engine()

    # -- workflows --------------------------------------------------------------------------------

    def path(self, value: Path | str) -> Path:
        """A path given relative to the current folder or the project root."""
        candidate = Path(value)
        if candidate.is_absolute() or candidate.exists():
            return candidate.resolve()
        return (self.root / candidate).resolve()

    @overload
    def run(
        self, workflow: Path | str, *, date: str | None = None, params: Mapping[str, str] | None = None,
        dry_run: Literal[False] = False,
    ) -> RunResult: ...

    @overload
    def run(
        self, workflow: Path | str, *, date: str | None = None, params: Mapping[str, str] | None = None,
        dry_run: bool,
    ) -> RunResult | DryRun: ...

    def run(
        self,
        workflow: Path | str,
        *,
        date: str | None = None,
        params: Mapping[str, str] | None = None,
        dry_run: bool = False,
    ) -> RunResult | DryRun:
        """Run a main workflow once (for `date`, default today). Returns a `RunResult` or a `DryRun`."""
        from towpath.workflows import run_workflow

        return run_workflow(self, self.path(workflow), date=date, params=params, dry_run=dry_run)

    def daily(
        self, workflow: Path | str, *, today: str | None = None, params: Mapping[str, str] | None = None
    ) -> DailyResult:
        """Run a daily workflow: main for today and its lookback days, then the high-water marks."""
        from towpath.workflows import run_daily

        return run_daily(self, self.path(workflow), today=today, params=params)

    def backfill(
        self,
        workflow: Path | str,
        *,
        start: str | None = None,
        end: str | None = None,
        parallel: int | None = None,
        force: bool = False,
        params: Mapping[str, str] | None = None,
        progress: Any = None,
    ) -> BackfillResult:
        """Run main for every date in [start, end]; dates that already succeeded are skipped unless `force`."""
        from towpath.workflows import run_backfill

        return run_backfill(
            self, self.path(workflow), start=start, end=end, parallel=parallel, force=force, params=params,
            progress=progress,
        )

    def expire_snapshots(self, table: str, *, older_than: str | None = None, retain_last: int | None = None) -> list[int]:
        """Forget `table`'s old snapshots; what is not given comes from `towpath.yaml`'s `snapshot_retention`
        (the same policy every WAP publish applies). Returns the expired snapshot ids."""
        from towpath.catalog import expire_snapshots
        from towpath.config.params import parse_duration

        retention = self.config.snapshot_retention
        age = older_than or retention.max_age
        if age is None:  # `max_age: null` keeps every snapshot
            return []
        keep = retention.retain_last if retain_last is None else retain_last
        return expire_snapshots(self.catalog, table, older_than=parse_duration(age), retain_last=keep)

    def compact(self, table: str, *, partitions: Sequence[str] | None = None) -> CompactResult:
        """Rewrite `table`'s small files (of `partitions`, default all), then expire snapshots per `snapshot_retention`."""
        from towpath.catalog import compact
        from towpath.config.params import parse_duration

        retention = self.config.snapshot_retention
        age = parse_duration(retention.max_age) if retention.max_age is not None else None
        return compact(
            self.catalog, table, partitions=partitions, expire_older_than=age, retain_last=retention.retain_last
        )

    def set_hwm(self, table: str, value: str, *, timezone: str | None = None, force: bool = False) -> HwmChange:
        """Move `table`'s high-water mark forward to `value` (back too with `force`), in the project's timezone."""
        from towpath.catalog import set_hwm

        return set_hwm(self.catalog, table, value, timezone or self.config.timezone, force=force)

    def rollback(self, table: str, snapshot_id: int, *, hwm: Literal["keep", "restore"] = "restore") -> Rollback:
        """Point `table`'s main back at `snapshot_id`, restoring the mark recorded with it unless `hwm="keep"`."""
        from towpath.catalog import rollback

        return rollback(self.catalog, table, snapshot_id, hwm=hwm)

    def branches(self, table: str) -> list[WapBranch]:
        """`table`'s branches but main, with the run that made each, its age and why it still exists."""
        from towpath.publish import wap_branches

        return wap_branches(self.catalog, self.state, table)

    def drop_branches(self, table: str, *, names: Sequence[str] = (), older_than: str | None = None) -> list[str]:
        """Drop the named branches and WAP branches older than `older_than`; returns the dropped names."""
        from towpath.config.params import parse_duration
        from towpath.publish import drop_wap_branches

        age = parse_duration(older_than) if older_than else None
        return drop_wap_branches(self.catalog, self.state, table, names=names, older_than=age)

    def gc(self, table: str, *, older_than: str = "3d", dry_run: bool = False) -> GcResult:
        """Remove `table`'s files nothing references that are older than `older_than` (list them with `dry_run`)."""
        from towpath.catalog import remove_orphan_files
        from towpath.config.params import parse_duration

        return remove_orphan_files(self.catalog, table, older_than=parse_duration(older_than), dry_run=dry_run)

    @cached_property
    def federation(self) -> Federation:
        """The lake and the `connections:` of towpath.yaml, queried together (see `query`)."""
        from towpath.federation import Federation

        return Federation(self.config, self.root, self.catalog)

    def query(self, sql: str, *, dialect: str | None = None, engine: str | None = None) -> pa.Table:
        """Run one SELECT over the project's lake tables and its connections; rows as Arrow.

        `ehr.patients` reads table `patients` of connection `ehr` (filters and columns pushed
        into the database), `claims.history` the lake table. `engine` is `duckdb` or `spark`
        (default: the project's engine).
        """
        lake = self.engine if (engine or self.config.engine.type) == self.config.engine.type else None
        return self.federation.query(sql, dialect=dialect, engine=engine, lake=lake)

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r})" if self.env is None else f"Project({str(self.root)!r}, env={self.env!r})"


_WARM_YAML_FILES = 500
"""At most this many of a project's YAML files are parsed ahead by `warm_up`."""


def warm_up(root: Path) -> None:
    """Prepare a long-lived process that will fork commands on the project at `root` (the worker).

    Builds the workflow models, opens the catalog and parses the metadata of every
    table, and parses the project's YAML files: each forked command then starts
    with all of it (~0.1 s of every command). All of it is kept by content —
    YAML by the file's text, metadata by its file, the catalog by its database
    file — so a command never sees a stale copy: what changed since is read again.
    A project that cannot be opened is left for the command to report.
    """
    from towpath.config import load_yaml
    from towpath.workflows.spec import build_models

    build_models()
    try:
        project = Project(root)
        project.catalog.preload()
        for _, path in zip(range(_WARM_YAML_FILES), _yaml_files(project.root), strict=False):
            load_yaml(path)
    except Exception:  # noqa: BLE001 - best effort: the command itself reports what is wrong, where
        return


def _yaml_files(root: Path) -> Iterator[Path]:
    """The YAML files under `root`, not descending into hidden folders (`.towpath` holds the warehouse)."""
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        yield from (Path(folder) / n for n in sorted(names) if n.endswith((".yaml", ".yml")))
