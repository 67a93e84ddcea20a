"""What the streams page shows: per stream job and partition the lag, last commit, rows/s over time and
dead letters (with their error and raw bytes); per CDC job its lag, positions and rate.

Status is `towpath.streaming.stream_status` (`towpath stream status --json`) and
`towpath.cdc.cdc_status` (`towpath cdc status --json`); a job whose broker or database is
unreachable shows its error, the others still show.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

if TYPE_CHECKING:
    from towpath.catalog import SnapshotInfo
    from towpath.project import Project

DEAD_LETTERS_SHOWN = 50


@dataclass
class StreamView:
    name: str
    file: str
    table: str
    """The sink: the table, or the files sink's path."""
    status: Any = None
    """`towpath stream status --json` (None when the broker could not be asked)."""
    error: str | None = None
    rates: list[tuple[str, float]] = field(default_factory=list)
    """(commit time, rows/s since the previous commit), oldest first: rows/s over time."""
    dead_letters: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CdcView:
    name: str
    file: str
    status: Any = None
    error: str | None = None


@dataclass
class StreamsPage:
    streams: list[StreamView]
    cdc: list[CdcView]


def streams_page(project: Project) -> StreamsPage:
    from towpath.errors import TowpathError
    from towpath.streaming import load_stream_spec, stream_status

    streams = []
    for path in _files(project, "*.stream.yaml"):
        try:
            spec = load_stream_spec(path)
        except TowpathError as exc:
            streams.append(StreamView(path.stem, str(path), "?", error=str(exc)))
            continue
        view = StreamView(spec.name, str(path), spec.sink.target)
        try:
            view.status = stream_status(spec, path.parent, project.catalog, project.state)
        except TowpathError as exc:
            view.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a broker client error: show it on the job, keep the page
            view.error = f"{type(exc).__name__}: {exc}"
        table = spec.sink.table  # None for a files sink: its commits and dead letters are files, not a table
        if table is not None and project.catalog.exists(table):
            view.rates = rates(project, table)
        if table is not None and project.catalog.exists(spec.sink.dead_letter_table):
            view.dead_letters = dead_letters(project, spec.sink.dead_letter_table, spec.name)
        streams.append(view)
    cdc = []
    for path in _files(project, "*.cdc.yaml"):
        cdc.append(_cdc(project, path))
    return StreamsPage(streams, cdc)


def _cdc(project: Project, path: Any) -> CdcView:
    from towpath.errors import TowpathError

    try:
        from towpath.cdc import cdc_status, load_cdc_spec

        spec = load_cdc_spec(path)
    except (TowpathError, ImportError) as exc:
        return CdcView(path.stem, str(path), error=str(exc))
    view = CdcView(spec.name, str(path))
    try:
        view.status = cdc_status(spec, catalog=project.catalog, root=project.root)
    except TowpathError as exc:
        view.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a database driver's error: show it on the job, keep the page
        view.error = f"{type(exc).__name__}: {exc}"
    return view


def rates(project: Project, table: str, *, commits: int = 60) -> list[tuple[str, float]]:
    """Rows/s of each of the table's newest commits on main (its added records over the time since the one before)."""
    from towpath.catalog import history

    by_id = {s.snapshot_id: s for s in history(project.catalog, table)}
    snaps: list[SnapshotInfo] = []
    head = next((s for s in by_id.values() if s.is_current), None)
    while head is not None and len(snaps) <= commits:  # main's ancestry only: a kept branch is not throughput
        snaps.append(head)
        head = by_id.get(head.parent_id) if head.parent_id is not None else None
    snaps.reverse()
    out = []
    for before, after in itertools.pairwise(snaps):
        seconds = (after.timestamp - before.timestamp).total_seconds()
        if seconds > 0:
            out.append((after.timestamp.isoformat(timespec="seconds"),
                        int(after.summary.get("added-records", 0)) / seconds))
    return out


def dead_letters(project: Project, table: str, stream: str) -> list[dict[str, Any]]:
    """The newest dead letters of `stream`: every column (error, topic, partition, offset, ...), raw bytes as text."""
    rows = project.catalog.read(table)
    if "stream" in rows.column_names:
        rows = rows.filter(pc.equal(rows.column("stream"), stream))
    rows = rows.slice(max(0, rows.num_rows - DEAD_LETTERS_SHOWN))
    out = []
    for row in rows.to_pylist()[::-1]:
        out.append({k: _printable(v) for k, v in row.items()})
    return out


def _printable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="backslashreplace")
    return value


def _files(project: Project, pattern: str) -> list[Any]:
    return [p for p in sorted(project.root.rglob(pattern)) if ".towpath" not in p.parts]
