"""`towpath lineage TABLE[.COLUMN]`: what feeds a table or column and what it feeds, down to the file:line."""

from __future__ import annotations

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
        _show(view)


def _show(view: Any) -> None:
    from towpath.cli import render

    arrow = {"upstream": "<-", "downstream": "->"}
    title = f"{view.node}  ({view.direction}" + (f", depth {view.depth})" if view.depth else ")")
    if view.hops:
        render.table([
            {"depth": hop.depth, "from": str(hop.source), "to": str(hop.target),
             "job": f"{hop.workflow}.{hop.job}", "how": hop.kind, "reads at": "\n".join(hop.reads) or "-"}
            for hop in view.hops
        ], title=title)
    else:
        render.console.print(f"{title}: no {'hops' if view.direction == 'both' else view.direction + ' hops'} "
                             f"{arrow.get(view.direction, '')}".rstrip())
    if view.uses:
        render.table([
            {"column": u.column or "(table)", "job": f"{u.workflow_id}.{u.job_id}", "role": u.role,
             "at": f"{u.file}:{u.line}" if u.line else (u.file or "?")}
            for u in view.uses
        ], title=f"Code naming {view.node}")
    owners = {w: o for w, o in view.owners.items() if o}
    if owners:
        render.console.print("Owners: " + ", ".join(f"{w} ({o})" for w, o in owners.items()))
    if view.runs:
        render.table([
            {"run": r.run_id, "job": f"{r.workflow_id}.{r.job_id}", "role": r.role,
             "snapshot": r.snapshot_id if r.snapshot_id is not None else "-", "status": r.status}
            for r in view.runs[:10]
        ], title=f"Latest runs reading or writing {view.node.table}")
