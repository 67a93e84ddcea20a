"""Publish a stream window as Parquet/CSV files under a lake path (local or `s3://`), exactly once.

Files cannot be committed together the way an Iceberg snapshot commits, so a
window goes through three steps, and readers who list the sink's data files
(`<path>/**/*.parquet`, hive-partitioned) see each committed window once and
never a window that was not committed:

1. `put()` writes every file of the window (rows, split into hive-style
   `column=value/` folders, and dead letters) under a staging folder
   `<path>/_towpath/staging/<stream>/<worker>/<run>/`, named `*.tmp`: invisible to
   readers (`_`-prefixed folders are skipped by Spark, Hive and pyarrow, and
   `*.tmp` matches no data glob).
2. `publish()` is the commit point: ONE state-store transaction moves the
   window's offsets, conditional on the offsets the worker started from (a
   second instance owning the same partitions is refused: fencing), and logs
   the window's (staged, final) file moves.
3. The moves are applied (a rename locally, copy + delete on S3, where each
   object appears whole), then the log entry is dropped.

A kill before 2 leaves only staged files, which the worker deletes when it
starts again (those of runs that are no longer running: a second instance
started beside a live one leaves the live one's files alone, and is then
fenced at its first commit) and re-reads the window; a kill during 3 leaves a committed
window some of whose files are still staged: `recover()` finishes the moves
when the worker starts (a move whose final file exists is already done). Final
names are derived from the window's offset range (`part-<digest>-<n>`), so a
move is idempotent. Durability is against a killed process; a local sink does
not fsync (an OS crash can lose page-cache data), S3 objects are durable when
their PUT returns.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from towpath.catalog import pause_point
from towpath.errors import TowpathError
from towpath.publish.base import Published, Staged

if TYPE_CHECKING:
    from towpath.state.ledgers import OffsetLedger

STAGING = "_towpath/staging"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_TRANSFORMS = {"years": ("year", "%Y"), "months": ("month", "%Y-%m"), "days": ("day", "%Y-%m-%d"),
               "hours": ("hour", "%Y-%m-%d-%H")}


class FileSinkError(TowpathError):
    """A files sink cannot write, move or read its files (a path that cannot be opened, a failed move)."""


def open_path(path: str, base: Path) -> tuple[pafs.FileSystem, str]:
    """The filesystem and root of a sink path: a folder (relative to `base`) or `s3://bucket/prefix`.

    S3 settings come from the usual environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_REGION`, ...).
    """
    uri = path if "://" in path else str((base / path).resolve())
    try:
        fs, root = pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise FileSinkError(f"cannot open sink path '{path}': {exc}") from None
    return fs, root.rstrip("/")


@dataclass(frozen=True)
class LakeFolder:
    """A folder of data files: where they go, in which format, split into which hive-style partitions."""

    fs: pafs.FileSystem
    root: str
    format: Literal["parquet", "csv"] = "parquet"
    partition_by: Sequence[str] = ()

    @property
    def suffix(self) -> str:
        return f".{self.format}"

    def split(self, rows: pa.Table) -> list[tuple[str, pa.Table]]:
        """(relative folder, rows) per partition: `country=NL/created_at_day=2024-01-02`; identity partition
        columns are left out of the files, as Hive and Spark do (readers take them from the folder names)."""
        if not self.partition_by or not rows.num_rows:
            return [("", rows)]
        keys: list[tuple[str, pa.ChunkedArray]] = []
        dropped = []
        for item in self.partition_by:
            name, transform, column = _partition(item)
            if column not in rows.column_names:
                raise FileSinkError(f"partition_by '{item}': the rows have no column '{column}' "
                                    f"(columns: {', '.join(rows.column_names)})")
            values = rows.column(column)
            if transform is None:
                dropped.append(column)
                text = values.cast(pa.string())
            else:
                text = pc.strftime(values, format=_TRANSFORMS[transform][1])
            keys.append((name, pc.fill_null(text, NULL_PARTITION)))
        table = pa.table(dict(keys))
        kept = rows.drop_columns(dropped)
        out = []
        for combo in table.group_by(table.column_names).aggregate([]).to_pylist():
            mask = None
            for name, value in combo.items():
                match = pc.equal(table.column(name), value)
                mask = match if mask is None else pc.and_(mask, match)
            folder = "/".join(f"{name}={quote(str(value), safe=' -_.:')}" for name, value in combo.items())
            out.append((folder, kept.filter(mask)))
        return sorted(out, key=lambda item: item[0])

    def write(self, path: str, rows: pa.Table) -> None:
        with self.fs.open_output_stream(path) as out:
            if self.format == "parquet":
                pq.write_table(rows, out, compression="zstd")
            else:
                pcsv.write_csv(rows, out)


def _partition(item: str) -> tuple[str, str | None, str]:
    """(folder key, transform or None, source column) of one `partition_by` item."""
    text = item.strip()
    if "(" in text:
        transform, _, rest = text.partition("(")
        column = rest.rstrip(") ").strip()
        transform = transform.strip().lower()
        if transform not in _TRANSFORMS:
            raise FileSinkError(f"partition_by '{item}': a files sink takes {'|'.join(_TRANSFORMS)}(column) or a column")
        return f"{column}_{_TRANSFORMS[transform][0]}", transform, column
    return text, None, text


@dataclass
class FileWindow:
    rows: pa.Table
    dead_letters: pa.Table | None
    expected: dict[str, int | None]
    """Offsets (next to read) per `topic/partition` that the ledger must still record."""
    position: dict[str, int]
    """The next offsets after this window."""
    start: dict[str, int]
    """Where the window started, per partition it covers (with `position`, it names the files)."""


class FileWindowPublisher:
    """The `Publisher` of stream windows into a files sink: staged files, one state commit, idempotent moves."""

    KIND: ClassVar[str] = "stream-files"

    def __init__(
        self, data: LakeFolder, dead_letters: LakeFolder, ledger: OffsetLedger, *, stream: str, worker: str,
        run: str,
    ) -> None:
        self.data, self.dead, self.ledger, self.stream = data, dead_letters, ledger, stream
        self.workspace = f"{data.root}/{STAGING}/{stream}/{worker}"
        """The staging folders of every run of this worker (one per run)."""
        self.staging = f"{self.workspace}/{run}"
        self._pending: dict[str, tuple[FileWindow, list[tuple[str, str]]]] = {}

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.data.root, self.dead.root)

    def stage(self, name: str, *, attempt: int) -> Staged:
        return Staged(name, attempt, {target: self.staging for target in self.targets})

    def put(self, staged: Staged, window: FileWindow) -> None:
        """Write every file of the window under the staging folder (nothing visible yet)."""
        name = window_name(self.stream, window.start, window.position)
        moves: list[tuple[str, str]] = []
        self.data.fs.create_dir(self.staging, recursive=True)
        parts = [(self.data, folder, rows) for folder, rows in self.data.split(window.rows) if rows.num_rows]
        if window.dead_letters is not None and window.dead_letters.num_rows:
            parts.append((self.dead, "", window.dead_letters))
        for i, (target, folder, rows) in enumerate(parts):
            final = posixpath.join(target.root, folder, f"part-{name}-{i:04d}{target.suffix}")
            temp = f"{self.staging}/{name}-{i:04d}{target.suffix}.tmp"
            try:
                target.write(temp, rows)
            except (OSError, pa.ArrowException) as exc:
                raise FileSinkError(f"cannot write {temp}: {exc}") from None
            moves.append((temp, final))
        self._pending[staged.name] = (window, moves)

    def publish(self, staged: Staged) -> Published:
        """Commit the window's offsets and file moves in one transaction, then move the files into place.

        Raises:
            OffsetConflictError: another writer moved these partitions' offsets (this worker is fenced).
        """
        window, moves = self._pending.pop(staged.name)
        name = window_name(self.stream, window.start, window.position)
        pause_point("files-staged")
        try:
            self.ledger.commit_window(
                self.stream, expected={_tp(k): v for k, v in window.expected.items()},
                offsets={_tp(k): v for k, v in window.position.items()}, window=name, moves=moves,
            )
        except TowpathError:
            for temp, _ in moves:  # refused (fenced) or the store failed: nothing of the window may stay
                self._delete(temp)
            raise
        self._move(name, moves)
        return Published({self.data.root: None})

    def discard(self, staged: Staged) -> None:
        _, moves = self._pending.pop(staged.name, (None, []))
        for temp, _ in moves:
            self._delete(temp)

    def keep(self, staged: Staged, reason: str) -> None:
        """A staged window is never worth keeping (the next run re-reads it from the recorded offsets)."""
        self.discard(staged)

    def recover(self, running: Collection[str] = ()) -> int:
        """Finish the moves of committed windows a killed worker left, delete the uncommitted staged files of
        this worker's runs that are not `running` (run ids).

        Returns how many committed windows were rolled forward.
        """
        pending = self.ledger.pending_windows(self.stream)
        for window in pending:
            self._move(window.window, window.moves)
        fs = self.data.fs
        for folder in fs.get_file_info(pafs.FileSelector(self.workspace, allow_not_found=True)):
            if folder.type != pafs.FileType.Directory or folder.base_name in running:
                continue
            for info in fs.get_file_info(pafs.FileSelector(folder.path, recursive=True)):
                if info.type == pafs.FileType.File:
                    self._delete(info.path)
        return len(pending)

    def _move(self, name: str, moves: Sequence[tuple[str, str]]) -> None:
        fs = self.data.fs
        for temp, final in moves:
            if fs.get_file_info(temp).type == pafs.FileType.NotFound:
                if fs.get_file_info(final).type == pafs.FileType.File:
                    continue  # moved before a kill
                raise FileSinkError(f"stream '{self.stream}': window {name} is committed but its file {temp} is "
                                    f"gone and {final} does not exist")
            fs.create_dir(posixpath.dirname(final), recursive=True)
            fs.move(temp, final)
            pause_point("between-file-moves")
        self.ledger.finish_window(self.stream, name)

    def _delete(self, path: str) -> None:
        try:
            self.data.fs.delete_file(path)
        except FileNotFoundError:
            pass


def window_name(stream: str, start: Mapping[str, int], end: Mapping[str, int]) -> str:
    """A window's file-name stem, from the offset range it covers (the same range always gets the same name)."""
    text = json.dumps({key: [start.get(key), end[key]] for key in sorted(end)}, sort_keys=True)
    return f"{stream}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _tp(key: str) -> tuple[str, int]:
    topic, _, partition = key.rpartition("/")
    return topic, int(partition)
