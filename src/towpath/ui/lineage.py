"""What the lineage pages show: the table graph with owners (or one node's column hops), and migrations.

The graph is `towpath.lineage.LineageGraph` (what `towpath lineage --json` walks); a
migration's consumers and progress are `towpath.migrations.migration_status`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from towpath.ui.config import UiNotFoundError

if TYPE_CHECKING:
    from towpath.project import Project
    from towpath.ui.tables import Descriptions


@dataclass
class LineagePage:
    node: str | None
    graph: dict[str, list[str]]
    """Node -> the nodes it is computed from (table level, or the walked node's column hops)."""
    owners: dict[str, str | None]
    """Node -> owner of the workflow that writes it."""
    writers: dict[str, list[str]]
    """Node -> `workflow.job` that write it."""
    view: dict[str, Any] | None = None
    """`towpath lineage NODE --json`, when a node is picked."""
    tables: list[str] = field(default_factory=list)


def lineage_page(project: Project, descriptions: Descriptions, node: str | None) -> LineagePage:
    """The graph; a node's owner is its writing workflow's `owner`, else the table's metadata owner."""
    from towpath.lineage import LineageError, LineageGraph

    graph = LineageGraph.from_state(project.state)
    edges: list[tuple[str, str, str, str]] = []
    view_json = None
    if node:
        try:
            view = graph.walk(graph.node(node))
        except LineageError as exc:
            raise UiNotFoundError(str(exc)) from None
        view_json = view.to_json()
        edges = [(str(h.source), str(h.target), h.workflow, h.job) for h in view.hops]
        nodes = [str(n) for n in view.nodes()]
    else:
        edges = sorted({(e.source, e.target, e.workflow_id or "?", e.job_id or "?") for e in graph.edges
                        if e.source != e.target})
        nodes = graph.tables
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    writers: dict[str, list[str]] = {n: [] for n in nodes}
    owners: dict[str, str | None] = {n: None for n in nodes}
    for source, target, workflow, job in edges:
        parents.setdefault(source, [])
        if source not in parents[target]:
            parents.setdefault(target, []).append(source)
        if f"{workflow}.{job}" not in writers.setdefault(target, []):
            writers[target].append(f"{workflow}.{job}")
        owners[target] = owners.get(target) or graph.owner(workflow)
    kept = {d.identifier: d.metadata.owner for d in descriptions.all()}
    owners = {name: owner or kept.get(name) or kept.get(name.rpartition(".")[0]) for name, owner in owners.items()}
    return LineagePage(node, parents, owners, writers, view_json, graph.tables)


def migrations_page(project: Project) -> list[dict[str, Any]]:
    """`towpath migration status --json` without an id."""
    from towpath.migrations import summaries

    return summaries(project.state)


def migration_page(project: Project, migration_id: str) -> dict[str, Any]:
    """`towpath migration status ID --json`: consumers, their owners and progress."""
    from towpath.migrations import MigrationNotFoundError, migration_status

    try:
        return migration_status(project, migration_id).to_json()
    except MigrationNotFoundError as exc:
        raise UiNotFoundError(str(exc)) from None
