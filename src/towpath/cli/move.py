"""`towpath move ...`: move a warehouse table into a key-value store as a new version behind an alias."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from towpath.cli import render
from towpath.cli.options import json_requested, output, project_from

if TYPE_CHECKING:
    from towpath.moves import MoveResult, MoveSpec, MoveWorkspace
    from towpath.project import Project


BATCH_NICENESS = 19
"""A move is a batch job: on a machine that also serves reads (the KV service, Redis), the kernel
runs the readers first. Measured at 2,000 Gets/s during a 10M-row move on 2 cores: p99 7.85 ms with
the move at niceness 0, 4.4-4.8 ms at 19 (docs/benchmarks.md); an idle machine moves as fast either way."""


def _lower_priority(niceness: int) -> None:
    """Run the rest of this process, and the threads and children it starts, at `niceness` or lower.

    The command owns its process: a fresh one, or the worker's fork of itself for this command.
    """
    if not hasattr(os, "setpriority"):  # Windows: no niceness
        return
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness > current:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)


def _moved(result: MoveResult) -> None:
    if result.recovered:
        render.warning(f"dropped the partial version(s) of an interrupted move: {', '.join(result.recovered)}")
    if result.status == "dry_run":
        render.success(f"{result.alias}: {result.rows:,} rows, {result.keys:,} keys would be written (dry run)")
        render.console.print(result.proto, markup=False, highlight=False)
        return
    rate = f" ({result.rows_per_s:,.0f} rows/s)" if result.rows >= 10_000 else ""
    render.success(f"{result.alias} → v{result.version} ({result.namespace}): {result.keys:,} keys in {result.seconds:.1f}s{rate}")
    for audit in result.audits:
        render.success(f"audit {audit.name}: {audit.detail}")
    for name in result.dropped:
        render.success(f"dropped old version {name}")
    for path in result.proto_files:
        render.success(f"wrote {path}")


def _status(result: dict[str, Any]) -> None:
    for name in result["recovered"]:
        render.warning(f"dropped the partial namespace {name} of an interrupted move")
    current = result["current"]
    if current is None:
        render.warning(f"{result['namespace']}: no version is online yet")
    else:
        render.key_values({
            "namespace": result["namespace"], "version": current["version"], "kv namespace": current["namespace"],
            "keys": result["keys"], "since": current["created_at"], "source": _source(current["source"]),
            "versions": result["versions"],
        }, title="Move status")
    for failed in result["failed"]:
        render.warning(f"v{failed['version']} ({failed['namespace']}) did not publish: {failed['reason']}")


def _source(source: dict[str, Any]) -> str:
    if "table" in source:
        return f"{source['table']}@{source.get('snapshot_id')}"
    return ", ".join(f"{t}@{s}" for t, s in source.get("tables", {}).items()) or "sql"


def _versions(rows: list[dict[str, Any]]) -> None:
    """`move versions`: the version readers see shows as `current` (the JSON keeps `status` and `current`)."""
    render.table(
        [{**r, "status": "current" if r["current"] else r["status"], "created": r["created_at"][:16].replace("T", " ")}
         for r in rows],
        ["version", "namespace", "status", "rows", "created"], title="Versions",
    )


def _rolled_back(result: dict[str, Any]) -> None:
    render.success(f"{result['namespace']}: readers now see v{result['to']} ({result['to_namespace']}), was v{result['from']}")


@click.group("move")
def cli() -> None:
    """Move tables into key-value stores: versioned, audited, swapped atomically.

    \b
    Example:
      towpath move run profiles.move.yaml --dry-run
      towpath move run profiles.move.yaml
      towpath move versions profiles
      towpath move rollback profiles
    """


def _workspace(project: Project) -> MoveWorkspace:
    from towpath.moves import MoveWorkspace

    return MoveWorkspace(project.catalog, project.state, project.root, lambda: project.engine,
                         engine_config=project.config.engine)


def _spec(ctx: click.Context, file: str) -> tuple[Project, MoveSpec]:
    from towpath.moves import load_move

    project = project_from(ctx, near=file)
    return project, load_move(file)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate and show the schema and what would be written; write nothing.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar with rows/s (on a terminal).")
@click.option("--nice", "niceness", type=click.IntRange(0, 19), default=BATCH_NICENESS, show_default=True,
              help="CPU niceness of the move: it takes the CPU that serving leaves (0: compete with it).")
@output(_moved)
@click.pass_context
def run(ctx: click.Context, file: str, dry_run: bool, progress: bool, niceness: int) -> MoveResult:
    """Move the source of FILE (a `*.move.yaml`) into a new version of its namespace.

    The source is validated first (columns, types, null and duplicate keys);
    then every row is written to `<namespace>_<YYYYMMDDhhmmss>`, audited there,
    and the namespace alias is pointed at it in one atomic step. A failed audit
    keeps the version for inspection and leaves readers where they were.

    \b
    Example:
      towpath move run profiles.move.yaml --dry-run
      towpath move run profiles.move.yaml --json
    """
    from towpath.moves import run_move

    project, spec = _spec(ctx, file)
    workspace = _workspace(project)
    if not dry_run:
        _lower_priority(niceness)
    if dry_run or not progress or json_requested(ctx) or not render.err_console.is_terminal:
        return run_move(spec, workspace, dry_run=dry_run)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                   TimeRemainingColumn(), console=render.err_console, transient=True)
    task = bar.add_task(spec.alias, total=None, rate="")
    import time

    started = time.perf_counter()

    def update(rows: int, total: int | None) -> None:
        elapsed = time.perf_counter() - started
        bar.update(task, completed=rows, total=total, rate=f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 else "")

    with bar:
        return run_move(spec, workspace, progress=update)


@cli.command()
@click.argument("namespace")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="The move file (for its KV store URL); "
              "default: the `*.move.yaml` of the project whose namespace is NAMESPACE.")
@output(_versions)
@click.pass_context
def versions(ctx: click.Context, namespace: str, file: str | None) -> list[dict[str, Any]]:
    """List NAMESPACE's versions (oldest first): status, rows, source snapshot, which one readers see.

    \b
    Example:
      towpath move versions profiles --json
    """
    from towpath.moves import list_versions

    project, spec = _find(ctx, namespace, file)
    store = _open(project, spec)
    try:
        return [v.to_json() for v in list_versions(store, project.state, namespace)]
    finally:
        store.close()


@cli.command()
@click.argument("namespace")
@click.option("--to", "to", type=int, help="The version to point readers at (default: the previous complete one).")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="The move file (for its KV store URL).")
@output(_rolled_back)
@click.pass_context
def rollback(ctx: click.Context, namespace: str, to: int | None, file: str | None) -> dict[str, Any]:
    """Point NAMESPACE's alias back at the previous complete version (or `--to VERSION`), atomically.

    \b
    Example:
      towpath move rollback profiles
      towpath move rollback profiles --to 3
    """
    from towpath.moves import rollback as do_rollback
    from towpath.moves.versions import namespace_of

    project, spec = _find(ctx, namespace, file)
    store = _open(project, spec)
    try:
        before, after = do_rollback(store, project.state, namespace, to)
    finally:
        store.close()
    return {"namespace": namespace, "from": before.version, "to": after.version, "to_namespace": namespace_of(after)}


@cli.command()
@click.argument("namespace")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False), help="The move file (for its KV store URL).")
@output(_status)
@click.pass_context
def status(ctx: click.Context, namespace: str, file: str | None) -> dict[str, Any]:
    """Show which version NAMESPACE's readers see, and drop partial versions of interrupted moves.

    \b
    Example:
      towpath move status profiles
    """
    from towpath.moves import move_status

    project, spec = _find(ctx, namespace, file)
    store = _open(project, spec)
    try:
        return move_status(store, project.state, namespace)
    finally:
        store.close()


def _find(ctx: click.Context, namespace: str, file: str | None) -> tuple[Project, MoveSpec | None]:
    """The project and the move file of `namespace` (its store URL); without one: the project's embedded store."""
    from towpath.moves import find_move, load_move

    if file is not None:
        return project_from(ctx, near=file), load_move(file)
    project = project_from(ctx)
    return project, find_move(project.root, namespace)


def _open(project: Project, spec: MoveSpec | None) -> Any:
    from towpath.kv import open_store
    from towpath.moves import open_kv

    return open_kv(spec, project.root) if spec is not None else open_store("embedded", root=project.root)
