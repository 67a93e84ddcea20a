"""`towpath lineage TABLE[.COLUMN]`: what feeds a table or column and what it feeds, down to the file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from towpath.cli.options import json_requested, project_from


@click.command("lineage")
@click.argument("node", metavar="TABLE[.COLUMN]")
@click.option("--upstream", "direction", flag_value="upstream", help="Only what feeds it.")
@click.option("--downstream", "direction", flag_value="downstream", help="Only what it feeds.")
@click.option("--depth", type=click.IntRange(min=1), default=None, help="At most this many hops (default: all).")
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "mermaid"]), default="text", show_default=True,
              help="dot (Graphviz) or mermaid print the graph only.")
@click.option("--refresh", is_flag=True, help="Rescan every workflow first (what `project validate` does).")
@click.option("--json", "as_json", is_flag=True, help="Print the graph, the uses and the latest runs as JSON.")
@click.pass_context
def cli(ctx: click.Context, node: str, direction: str | None, depth: int | None, fmt: str, refresh: bool,
        as_json: bool) -> None:
    """Show the lineage of TABLE or TABLE.COLUMN: each hop names the workflow, the job and the
    file:line where the job reads the source; then every place code reads the node (filters,
    audits, DDL) and the latest runs that read or wrote it, with their snapshot ids.

    The lineage is refreshed by `towpath project validate` and by every run.

    \b
    Examples:
      towpath lineage foo.dataflow_sample_results.title_rank --upstream
      towpath lineage some_db.source_table --downstream --depth 1
      towpath lineage foo.dataflow_sample_results --format mermaid > lineage.mmd
    """
    from towpath.cli import render
    from towpath.lineage import LineageGraph

    project = project_from(ctx)
    if refresh:
        from towpath.testing import validate_project

        validate_project(project)
    graph = LineageGraph.from_state(project.state)
    view = graph.walk(graph.node(node), direction or "both", depth)  # type: ignore[arg-type]
    if as_json or json_requested(ctx):
        render.json_out(view.to_json())
    elif fmt == "dot":
        click.echo(view.to_dot(), nl=False)
    elif fmt == "mermaid":
        click.echo(view.to_mermaid(), nl=False)
    else:
        _show(view, project.root)


def _show(view: Any, root: Path) -> None:
    """An indented list: at 80 columns a table would fold every table name and path."""
    from rich.markup import escape

    from towpath.cli import render

    def at(place: str) -> str:
        path, sep, line = place.rpartition(":")
        try:
            return f"{Path(path).relative_to(root)}{sep}{line}" if sep else place
        except ValueError:
            return place

    out = render.console
    out.print(f"[bold]{escape(str(view.node))}[/bold]  ({view.direction}"
              + (f", depth {view.depth})" if view.depth else ")"))
    for hop in view.hops:
        arrow, other = ("<-", hop.source) if hop.target == view.node or (
            view.direction == "upstream") else ("->", hop.target)
        indent = "  " * (hop.depth - 1)
        out.print(f"{indent}{arrow} {escape(str(other))}")
        out.print(f"{indent}     by {escape(hop.workflow)}.{escape(hop.job)} ({hop.kind})")
        if hop.reads:
            out.print(f"{indent}     reads at {escape(_compact([at(r) for r in hop.reads]))}")
    if not view.hops:
        out.print("  (no job computes it from, or into, another table)")
    if view.uses:
        out.print("Code naming it:")
        for u in view.uses:
            place = at(f"{u.file}:{u.line}" if u.line else (u.file or "?"))
            column = f" {u.column}" if u.column and view.node.column is None else ""
            out.print(f"  {escape(u.workflow_id)}.{escape(u.job_id)}  {u.role}{column}  {escape(place)}")
    owners = {w: o for w, o in view.owners.items() if o}
    if owners:
        out.print("Owners: " + ", ".join(f"{escape(w)} ({escape(o)})" for w, o in owners.items()))
    if view.runs:
        out.print(f"Latest runs of {escape(view.node.table)}:")
        for r in view.runs[:6]:
            snapshot = r.snapshot_id if r.snapshot_id is not None else "-"
            out.print(f"  {r.run_id}  {escape(r.job_id)}  {r.role} snapshot {snapshot}  {r.status}")


def _compact(places: list[str]) -> str:
    """`a.sql:6, a.sql:14, b.py:3` -> `a.sql:6,14  b.py:3`."""
    by_file: dict[str, list[str]] = {}
    for place in places:
        path, sep, line = place.rpartition(":")
        by_file.setdefault(path if sep else place, []).append(line if sep else "")
    return "  ".join(f"{path}:{','.join(lines)}" if any(lines) else path for path, lines in by_file.items())
