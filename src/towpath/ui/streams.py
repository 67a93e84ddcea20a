"""What the streams page shows: per stream job and partition the lag, last commit, rows/s over time and
dead letters (with their error and raw bytes); per CDC job its lag, positions and rate.

Status is `towpath.streaming.stream_status` (`towpath stream status --json`) and
`towpath.cdc.cdc_status` (`towpath cdc status --json`); a job whose broker or database is
unreachable shows its error, the others still show.

A files sink (`sink: {path: ..., format: parquet|csv}`) has no snapshots to read: what it shows comes
from what the streaming room writes for it. The state store's offset ledger has each partition's
committed offset and commit time, and the windows committed whose file moves are not all done yet
(rolled forward when a worker starts); the sink's folder has the committed files, named
`part-<window>-<n>` after the offset range of their window (`towpath.publish.window_name`), so
counting distinct window names counts committed windows; files still under `_towpath/staging` are
windows not committed (deleted when a worker starts); the dead-letter folder has the dead letters
(always Parquet, raw bytes kept). Rows/s over time comes from the Parquet footers (rows) and
modification times of each window's files.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow.fs as pafs

    from towpath.catalog import SnapshotInfo
    from towpath.project import Project
    from towpath.state import StateStore
    from towpath.streaming import StreamSpec

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
    files: FilesSink | None = None
    """What a files sink has written (None for a table sink)."""


@dataclass
class FilesSink:
    """A files sink's committed windows, files, bytes, last commit and what is not in place yet."""

    path: str
    format: str
    windows: int
    """Committed windows whose files are in the sink (distinct `part-<window>-*` names)."""
    files: int
    bytes: int
    last_commit: str | None
    """The newest commit time the offset ledger records for the stream."""
    pending_windows: list[str]
    """Committed windows whose file moves are not all done (a worker killed mid-move; rolled forward at its next start)."""
    staged_files: int
    """Files of windows not committed (under `_towpath/staging`; a worker deletes them when it starts)."""
    dead_letter_path: str
    dead_letter_files: int


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
    for path in job_files(project, "*.stream.yaml"):
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
        if table is None:
            try:
                view.files, view.rates, view.dead_letters = files_sink(spec, path.parent, project.state)
            except (TowpathError, OSError, pa.ArrowException) as exc:
                view.error = "; ".join(filter(None, [view.error, f"files sink {spec.sink.path}: {exc}"]))
        if table is not None and project.catalog.exists(table):
            view.rates = rates(project, table)
        if table is not None and project.catalog.exists(spec.sink.dead_letter_table):
            view.dead_letters = newest_dead_letters(project.catalog.read(spec.sink.dead_letter_table), spec.name)
        streams.append(view)
    cdc = []
    for path in job_files(project, "*.cdc.yaml"):
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


def newest_dead_letters(rows: pa.Table, stream: str) -> list[dict[str, Any]]:
    """The newest dead letters of `stream`: every column (error, topic, partition, offset, ...), raw bytes as text."""
    if "stream" in rows.column_names:
        rows = rows.filter(pc.equal(rows.column("stream"), stream))
    order = [(c, "ascending") for c in ("timestamp", "partition", "offset") if c in rows.column_names]
    if order:
        rows = rows.sort_by(order)
    rows = rows.slice(max(0, rows.num_rows - DEAD_LETTERS_SHOWN))
    out = []
    for row in rows.to_pylist()[::-1]:
        out.append({k: _printable(v) for k, v in row.items()})
    return out


_FILE = re.compile(r"part-(?P<window>.+-[0-9a-f]{16})-\d{4}\.(?:parquet|csv)")


def files_sink(spec: StreamSpec, base: Path, state: StateStore) -> tuple[FilesSink, list[tuple[str, float]], list[
        dict[str, Any]]]:
    """(what the files sink holds, rows/s per committed window over time, the newest dead letters) of `spec`."""

    from towpath.publish import open_path

    sink = spec.sink
    assert sink.path is not None, "a table sink has no files"
    fs, root = open_path(sink.path, base)
    dead_fs, dead_root = open_path(sink.dead_letter_path, base)
    files = _listing(fs, root)
    staging = f"{root}/_towpath/"
    data = [f for f in files if not f.path.startswith(staging) and _FILE.fullmatch(f.base_name)]
    windows: dict[str, list[pafs.FileInfo]] = {}
    for info in data:
        windows.setdefault(_FILE.fullmatch(info.base_name)["window"], []).append(info)  # type: ignore[index]
    offsets = state.offsets.of_stream(spec.name)
    dead_files = [f for f in _listing(dead_fs, dead_root) if f.base_name.endswith(".parquet")
                  and not f.path.startswith(f"{dead_root}/_towpath/")]
    view = FilesSink(
        sink.path, sink.format or "parquet", len(windows), len(data), sum(f.size or 0 for f in data),
        max((o.committed_at for o in offsets), default=None),
        [w.window for w in state.offsets.pending_windows(spec.name)],
        sum(1 for f in files if f.path.startswith(staging) and f.base_name.endswith(".tmp")),
        sink.dead_letter_path, len(dead_files))
    dead: list[dict[str, Any]] = []
    if dead_files:
        import pyarrow.dataset as ds

        newest_first = sorted(dead_files, key=lambda f: (f.mtime_ns or 0, f.path))
        dead = newest_dead_letters(ds.dataset([f.path for f in newest_first], filesystem=dead_fs,
                                              format="parquet").to_table(), spec.name)
    return view, _window_rates(fs, windows) if view.format == "parquet" else [], dead


def _listing(fs: pafs.FileSystem, root: str) -> list[pafs.FileInfo]:
    import pyarrow.fs as pafs

    return [f for f in fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
            if f.type == pafs.FileType.File]


def _window_rates(fs: pafs.FileSystem, windows: dict[str, list[pafs.FileInfo]], *, newest: int = 60) -> list[
        tuple[str, float]]:
    """Rows/s of each of the newest committed windows: its rows (Parquet footers) over the time since the one before
    (the files' modification time, which a local move and an S3 copy both set at commit)."""
    import datetime as dt

    import pyarrow.parquet as pq

    timed = sorted(((max(f.mtime_ns or 0 for f in infos), infos) for infos in windows.values()),
                   key=lambda item: item[0])[-(newest + 1):]
    out = []
    for (before, _), (after, infos) in itertools.pairwise(timed):
        seconds = (after - before) / 1e9
        if seconds > 0:
            rows = 0
            for info in infos:
                with fs.open_input_file(info.path) as handle:
                    rows += pq.ParquetFile(handle).metadata.num_rows
            at = dt.datetime.fromtimestamp(after / 1e9, dt.UTC).isoformat(timespec="seconds")
            out.append((at, rows / seconds))
    return out


def _printable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="backslashreplace")
    return value


def job_files(project: Project, pattern: str) -> list[Path]:
    """The project's job files matching `pattern` (`*.stream.yaml`), outside `.towpath/`."""
    return [p for p in sorted(project.root.rglob(pattern)) if ".towpath" not in p.parts]
