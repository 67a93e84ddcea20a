"""Publish room: the Write-Audit-Publish protocol and its implementations.

`Publisher` stages an invisible version of its targets, the caller writes and
audits it through `Staged.refs`, and `publish` makes it visible in one atomic
step (or raises `ConflictError`); `discard` and `keep` end an attempt that will
not publish. `IcebergBranchPublisher` stages a branch per table; `StreamWindowPublisher`
commits a stream window with its Kafka offsets; `FileWindowPublisher` publishes one as
Parquet/CSV files under a lake path (staged files, one state commit, idempotent moves).
"""

from towpath.publish.base import Published, Publisher, Staged
from towpath.publish.file_window import (
    FileSinkError,
    FileWindow,
    FileWindowPublisher,
    LakeFolder,
    open_path,
    window_name,
)
from towpath.publish.iceberg import (
    IcebergBranchPublisher,
    Retention,
    WapBranch,
    drop_wap_branches,
    wap_branches,
)
from towpath.publish.stream_window import StreamWindowPublisher, WindowData

__all__ = [
    "FileSinkError",
    "FileWindow",
    "FileWindowPublisher",
    "IcebergBranchPublisher",
    "LakeFolder",
    "Published",
    "Publisher",
    "Retention",
    "Staged",
    "StreamWindowPublisher",
    "WapBranch",
    "WindowData",
    "drop_wap_branches",
    "open_path",
    "wap_branches",
    "window_name",
]
