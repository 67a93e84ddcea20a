"""`WorkflowLineage`: what one scan of a workflow learns about the tables and columns its jobs read and write.

The preflight fills it while it checks each step (the SQL it parses, the tables
it resolves), so validation and lineage read a workflow once and agree on every
name; each job type adds what only it knows through its `JobType.lineage` hook.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from towpath.sql import QueryLineage
from towpath.state import LineageEdge, LineageUse

__all__ = ["WorkflowLineage"]


class WorkflowLineage:
    """Edges (`source.column -> target.column`) and uses (code naming a table or column at file:line)."""

    def __init__(self, workflow_id: str, path: Path | None = None, owner: str | None = None) -> None:
        self.workflow_id, self.path, self.owner = workflow_id, path, owner
        self.edges: list[LineageEdge] = []
        self.uses: list[LineageUse] = []
        self.job_types: dict[str, str] = {}
        """Job id -> its type, for every job seen (those with no lineage too)."""

    # -- what jobs report -----------------------------------------------------------------------

    def read(self, job: str, table: str, column: str | None = None, *, file: Path | str | None = None,
             line: int | None = None) -> None:
        """`job` reads `table` (its `column`, if given) at `file:line`."""
        self._use(LineageUse(self.workflow_id, job, table, column, "read", _text(file), line))

    def write(self, job: str, table: str, *, file: Path | str | None = None, line: int | None = None) -> None:
        """`job` writes `table`; the code naming it is at `file:line`."""
        self._use(LineageUse(self.workflow_id, job, table, None, "write", _text(file), line))

    def define(self, job: str, table: str, column: str, *, file: Path | str | None = None,
               line: int | None = None) -> None:
        """`job`'s DDL defines `table.column` at `file:line`."""
        self._use(LineageUse(self.workflow_id, job, table, column, "ddl", _text(file), line))

    def edge(self, job: str, source: str, source_column: str | None, target: str, target_column: str | None, *,
             kind: str, file: Path | str | None = None, line: int | None = None) -> None:
        """`target.target_column` is computed from `source.source_column` (None: the table as a whole)."""
        new = LineageEdge(source=source, target=target, source_column=source_column, target_column=target_column,
                          workflow_id=self.workflow_id, job_id=job, kind=kind, file=_text(file), line=line)
        if new not in self.edges:
            self.edges.append(new)

    def query(self, job: str, found: QueryLineage, *, file: Path, target: str | None,
              target_columns: Sequence[str] | None, line: int) -> None:
        """A query of `job` (at `file:line`): its reads, and, when it writes `target`, its column edges.

        `target_columns` are the target's columns the query's outputs fill, in order
        (None: the query's own output names).
        """
        for read in found.reads:
            self.read(job, read.table, read.column, file=file, line=read.line)
        for table in found.tables:
            if not any(u.table == table and u.job_id == job for u in self.uses):
                self.read(job, table, file=file, line=line)
        if target is None:
            return
        self.write(job, target, file=file, line=line)
        outputs = list(found.columns)
        names = list(target_columns) if target_columns is not None and len(target_columns) == len(outputs) else outputs
        if not found.columns:  # column lineage unknown: table-level edges
            for table in found.tables:
                self.edge(job, table, None, target, None, kind="table", file=file, line=line)
            return
        for output, column in zip(outputs, names, strict=True):
            for source in found.columns[output]:
                self.edge(job, source.table, source.column, target, column.lower(), kind="sql", file=file, line=line)

    def tables_of(self, job: str, role: str) -> list[str]:
        """Tables `job` reads (`read`) or writes (`write`), in order of first mention."""
        return list(dict.fromkeys(u.table for u in self.uses if u.job_id == job and u.role == role))

    def jobs(self) -> list[str]:
        return list(self.job_types)

    def columns_of(self, job: str, target: str) -> dict[str, list[tuple[str, str]]]:
        """Target column -> its (source table, source column) for one job's write of `target`."""
        out: dict[str, list[tuple[str, str]]] = {}
        for e in self.edges:
            if e.job_id == job and e.target == target and e.target_column and e.source_column:
                out.setdefault(e.target_column, []).append((e.source, e.source_column))
        return out

    def _use(self, use: LineageUse) -> None:
        if use not in self.uses:
            self.uses.append(use)


def _text(file: Path | str | None) -> str | None:
    return str(file) if file is not None else None
