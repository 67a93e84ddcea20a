"""The project's lineage graph, from the state room, walked from a table or a column.

Nodes are tables (`db.table`) or columns (`db.table.column`); an edge says a job
computes its target from its source. A walk goes upstream (what feeds the node),
downstream (what the node feeds) or both, to a depth, and brings along, for each
hop, the file:line where the job reads the source column, and every other place
code reads the node (filters, audits, DDL) — the places a change must touch.
"""

from __future__ import annotations

import difflib
import json
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from towpath.errors import TowpathError
from towpath.lineage.collect import WorkflowLineage
from towpath.state import LineageEdge, LineageRun, LineageUse, LineageWorkflow

if TYPE_CHECKING:
    from towpath.state import StateStore

__all__ = ["Hop", "LineageError", "LineageGraph", "LineageView", "Node", "save_static"]

Direction = Literal["upstream", "downstream", "both"]


class LineageError(TowpathError):
    """A lineage query names a table or column the graph does not know."""


@dataclass(frozen=True, order=True)
class Node:
    table: str
    column: str | None = None

    def __str__(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table


@dataclass(frozen=True)
class Hop:
    """`target` is computed from `source` by `workflow`'s `job`; `reads` are where that job reads `source`."""

    source: Node
    target: Node
    workflow: str
    job: str
    kind: str
    depth: int
    reads: tuple[str, ...] = ()
    """`file:line` of each place the job names the source (its definition, for a table-level hop)."""

    def to_json(self) -> dict[str, Any]:
        return {"source": str(self.source), "target": str(self.target), "workflow": self.workflow, "job": self.job,
                "kind": self.kind, "depth": self.depth, "reads": list(self.reads)}


@dataclass
class LineageView:
    """The result of one walk."""

    node: Node
    direction: Direction
    depth: int | None
    hops: list[Hop] = field(default_factory=list)
    uses: list[LineageUse] = field(default_factory=list)
    """Every place code names the start node (or, for a table, any of its columns)."""
    runs: list[LineageRun] = field(default_factory=list)
    """The latest job runs that read or wrote the node's table."""
    owners: dict[str, str | None] = field(default_factory=dict)
    """Workflow -> its owner, for the workflows in the view."""

    def nodes(self) -> list[Node]:
        found = {self.node} | {h.source for h in self.hops} | {h.target for h in self.hops}
        return sorted(found)

    def to_json(self) -> dict[str, Any]:
        return {
            "node": str(self.node), "direction": self.direction, "depth": self.depth,
            "nodes": [str(n) for n in self.nodes()],
            "edges": [h.to_json() for h in self.hops],
            "uses": [{"table": u.table, "column": u.column, "workflow": u.workflow_id, "job": u.job_id,
                      "role": u.role, "at": _at(u.file, u.line)} for u in self.uses],
            "runs": [{"run_id": r.run_id, "workflow": r.workflow_id, "job": r.job_id, "table": r.table,
                      "role": r.role, "snapshot_id": r.snapshot_id, "status": r.status, "at": r.recorded_at}
                     for r in self.runs],
            "owners": self.owners,
        }

    def to_dot(self) -> str:
        """Graphviz: one box per node, one arrow per hop labelled with the job."""
        lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
        for node in self.nodes():
            style = ", style=bold" if node == self.node else ""
            lines.append(f"  {json.dumps(str(node))} [label={json.dumps(str(node))}{style}];")
        for hop in self.hops:
            lines.append(f"  {json.dumps(str(hop.source))} -> {json.dumps(str(hop.target))} "
                         f"[label={json.dumps(f'{hop.workflow}.{hop.job}')}];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_mermaid(self) -> str:
        """A Mermaid flowchart (renders in GitHub Markdown)."""
        ids = {node: f"n{i}" for i, node in enumerate(self.nodes())}
        lines = ["flowchart LR"]
        for node, ident in ids.items():
            lines.append(f'  {ident}["{node}"]')
        for hop in self.hops:
            lines.append(f'  {ids[hop.source]} -- "{hop.workflow}.{hop.job}" --> {ids[hop.target]}')
        return "\n".join(lines) + "\n"


class LineageGraph:
    """Static edges and uses of every recorded workflow, plus the runs' reads and writes."""

    def __init__(self, edges: Sequence[LineageEdge], uses: Sequence[LineageUse],
                 workflows: Sequence[LineageWorkflow] = (), runs: Sequence[LineageRun] = ()) -> None:
        self.edges, self.uses, self.workflows, self.runs = list(edges), list(uses), list(workflows), list(runs)
        self._columns: dict[str, set[str]] = {}
        for e in self.edges:
            self._columns.setdefault(e.source, set())
            self._columns.setdefault(e.target, set())
            if e.source_column:
                self._columns[e.source].add(e.source_column)
            if e.target_column:
                self._columns[e.target].add(e.target_column)
        for u in self.uses:
            self._columns.setdefault(u.table, set())
            if u.column:
                self._columns[u.table].add(u.column)

    @classmethod
    def from_state(cls, state: StateStore) -> LineageGraph:
        ledger = state.lineage
        return cls(ledger.static_edges(), ledger.uses(), ledger.workflows(), ledger.runs(limit=5000))

    @property
    def tables(self) -> list[str]:
        return sorted(self._columns)

    def columns(self, table: str) -> list[str]:
        return sorted(self._columns.get(table, ()))

    def owner(self, workflow: str) -> str | None:
        return next((w.owner for w in self.workflows if w.workflow_id == workflow), None)

    def node(self, text: str) -> Node:
        """`db.table` or `db.table.column` as a node of this graph.

        Raises:
            LineageError: no such table or column is known (with the closest names).
        """
        name = text.strip().lower()
        if name in self._columns:
            return Node(name)
        table, _, column = name.rpartition(".")
        if table in self._columns:
            if column in self._columns[table]:
                return Node(table, column)
            close = difflib.get_close_matches(column, self.columns(table), n=1)
            hint = f"; did you mean '{table}.{close[0]}'?" if close else ""
            raise LineageError(f"no job reads or writes column '{column}' of {table}{hint}")
        close = difflib.get_close_matches(name, self.tables, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else (
            "" if self.tables else "; the lineage is empty: run `towpath project validate` first")
        raise LineageError(f"no workflow reads or writes '{name}'{hint}")

    def walk(self, start: Node, direction: Direction = "both", depth: int | None = None) -> LineageView:
        """The hops reachable from `start` going `direction`, at most `depth` hops away (None: all)."""
        view = LineageView(start, direction, depth)
        directions: list[Literal["upstream", "downstream"]] = (
            ["upstream", "downstream"] if direction == "both" else [direction])
        seen_hops: set[tuple[Node, Node, str, str]] = set()
        for way in directions:
            queue = deque([(start, 0)])
            visited = {start}
            while queue:
                node, level = queue.popleft()
                if depth is not None and level >= depth:
                    continue
                for hop in self._hops(node, way, level + 1):
                    key = (hop.source, hop.target, hop.workflow, hop.job)
                    if key not in seen_hops:
                        seen_hops.add(key)
                        view.hops.append(hop)
                    nxt = hop.source if way == "upstream" else hop.target
                    if nxt not in visited:
                        visited.add(nxt)
                        queue.append((nxt, level + 1))
        view.uses = [u for u in self.uses if u.table == start.table and (start.column is None or u.column == start.column)]
        view.runs = [r for r in self.runs if r.table == start.table][:20]
        workflows = {h.workflow for h in view.hops} | {u.workflow_id for u in view.uses}
        view.owners = {w: self.owner(w) for w in sorted(workflows)}
        return view

    def consumers(self, table: str, column: str | None = None) -> list[LineageUse]:
        """Every read of `table` (of `column`, if given; table-level reads of the table count too)."""
        return [u for u in self.uses if u.table == table and u.role in ("read", "ddl")
                and (column is None or u.column in (column, None))]

    def _hops(self, node: Node, way: Literal["upstream", "downstream"], level: int) -> Iterable[Hop]:
        grouped: dict[tuple[Node, Node, str, str], list[str]] = {}
        for e in self.edges:
            if node.column is None:
                here = e.target if way == "upstream" else e.source
                if here != node.table:
                    continue
                source, target = Node(e.source), Node(e.target)
            else:
                here_table, here_column = (e.target, e.target_column) if way == "upstream" else (e.source, e.source_column)
                if here_table != node.table or here_column not in (node.column, None):
                    continue
                source = Node(e.source, e.source_column if e.source_column else None)
                target = Node(e.target, e.target_column if e.target_column else None)
                if way == "downstream" and e.source_column is None:
                    source = node
                if way == "upstream" and e.target_column is None:
                    target = node
            kinds = grouped.setdefault((source, target, e.workflow_id or "?", e.job_id or "?"), [])
            if e.kind and e.kind not in kinds:
                kinds.append(e.kind)
        for (source, target, workflow, job), kind_list in grouped.items():
            kind = "+".join(sorted(kind_list))
            reads = tuple(dict.fromkeys(
                _at(u.file, u.line) for u in self.uses
                if u.workflow_id == workflow and u.job_id == job and u.table == source.table and u.role == "read"
                and (source.column is None or u.column == source.column)))
            yield Hop(source, target, workflow, job, kind, level, reads)


def save_static(state: StateStore, lineage: WorkflowLineage) -> None:
    """Store `lineage` as the workflow's static lineage (replacing what an earlier scan found)."""
    state.lineage.replace_static(lineage.workflow_id, lineage.edges, lineage.uses,
                                 path=str(lineage.path) if lineage.path else None, owner=lineage.owner)


def _at(file: str | None, line: int | None) -> str:
    if file is None:
        return "?"
    return f"{file}:{line}" if line else file
