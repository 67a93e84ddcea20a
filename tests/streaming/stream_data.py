"""Shared helpers of the streaming tests (a uniquely named module: child processes import it too)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import yaml

_topics = itertools.count()


def new_topic(prefix: str = "t") -> str:
    """A topic name no other test of the session uses."""
    import os

    return f"{prefix}-{os.getpid()}-{next(_topics)}"


def orders(n: int, *, start: int = 0, bad_every: int = 0) -> list[bytes]:
    """`n` ~150-byte JSON orders; with `bad_every`, every k-th message is malformed instead."""
    out = []
    for i in range(start, start + n):
        if bad_every and i % bad_every == bad_every - 1:
            out.append(b'{"id": %d, "amount": ' % i)  # truncated JSON
            continue
        out.append(json.dumps({
            "id": i, "customer": f"c{i % 97:03d}", "amount": round(i * 1.25 % 1000, 2), "country": "NL",
            "created_at": f"2024-01-{1 + i % 3:02d}T10:{i % 60:02d}:00Z", "items": {"sku": f"s{i % 13}", "qty": i % 5},
        }).encode())
    return out


def write_spec(folder: Path, bootstrap: str, topic: str, **overrides: Any) -> Path:
    """An `orders.stream.yaml` in `folder` reading `topic`; `overrides` replace top-level keys."""
    spec: dict[str, Any] = {
        "name": overrides.pop("name", topic),
        "source": {"bootstrap_servers": bootstrap, "topics": [topic], "start": "earliest"},
        "format": {"type": "json"},
        "schema": "detect",
        "event_time": "created_at",
        "window": {"duration": "1s", "max_rows": 100_000},
        "sink": {"table": f"lake.{topic.replace('-', '_')}", "partition_by": ["days(created_at)"]},
    }
    spec.update(overrides)
    path = folder / f"{topic}.stream.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path
