"""`.towpath/cdc/<name>.json`: what a running or finished CDC job last reported, for `towpath cdc status`."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CDC_DIR", "JobReport", "read_report", "write_report"]

CDC_DIR = Path(".towpath") / "cdc"


@dataclass
class JobReport:
    name: str
    state: str = "running"
    """running, stopped (caught up / asked to stop), failed."""
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    snapshot_rows: int = 0
    changes: int = 0
    batches: int = 0
    rows_per_second: float = 0.0
    """Changes applied per second of streaming (the snapshot excluded)."""
    applied_position: str = "-"
    """The last position every target applied, as the source spells it."""
    lag_seconds: float | None = None
    """At the last apply: now minus the source commit time of its newest change."""
    lag_seconds_p99: float | None = None
    error: str | None = None


def _path(root: Path, name: str) -> Path:
    return root / CDC_DIR / f"{name}.json"


def write_report(root: Path, report: JobReport) -> None:
    path = _path(root, report.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    report.updated_at = time.time()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(report), indent=1))
    os.replace(tmp, path)


def read_report(root: Path, name: str) -> JobReport | None:
    path = _path(root, name)
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return JobReport(**{k: v for k, v in data.items() if k in JobReport.__dataclass_fields__})
