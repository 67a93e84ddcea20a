"""A move through `towpath kv serve` while readers read: the service paces the move's writes (reads come
first) and the move still writes every row, audits it, and swaps the alias only after the whole dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
from move_helpers import move, move_file, profiles_project

import services
from towpath.kv import Client
from towpath.kv.service import KvService, ServiceConfig
from towpath.project import Project

ROWS = 6_000
SRC = Path(__file__).parents[2] / "src"
READER = """
import json, sys
sys.path.insert(0, sys.argv[1])
import profiles_pb2
from towpath.kv import Client
with Client(sys.argv[2]) as client:
    keys = [profiles_pb2.KeyMessage(profile_id=i) for i in range(1, int(sys.argv[3]) + 1)]
    print(json.dumps([[v.email, v.age] for v in client.get_many("profiles", keys)]))
"""


def test_a_move_under_read_load_is_paced_and_finishes_with_every_row(project: Project,
                                                                    redis_server: services.RedisServer) -> None:
    ids = list(range(1, ROWS + 1))
    profiles_project(project, pa.table({
        "profile_id": pa.array(ids, pa.int64()), "email": [f"u{i}@example.com" for i in ids],
        "age": pa.array([i % 90 for i in ids], pa.int32()), "country": ["NO"] * ROWS,
    }))
    config = ServiceConfig(engine=f"{redis_server.url}?prefix=paced", port=0, grpc_port=services.free_port(),
                           write_processes=1, read_budget_ms=0.001, min_write_rate=5_000)
    stop, rates, wrong = threading.Event(), [], []
    with KvService(config) as service:
        url = f"grpc://127.0.0.1:{service.grpc_port}"
        service.store.create_namespace("hot_1")
        service.store.put_batch("hot_1", [b"k"], [b"v"])

        def reader() -> None:
            with Client(url) as client:
                while not stop.wait(0.002):
                    if client.get("hot_1", b"k") != b"v":
                        wrong.append("a read answered wrong")
                    rates.append(service.core.gate.rate)

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            result = move(project, move_file(project, url, batch_size=1_000))
        finally:
            stop.set()
            thread.join(10)
        assert not wrong and 5_000 in rates  # the reads held the move at its floor while it wrote
        assert result.status == "published" and result.keys == ROWS
        assert service.store.alias("profiles") == result.namespace and service.store.count("profiles") == ROWS
        # typed reads with protoc's own module, in a process of their own (its descriptor pool is fresh)
        read = subprocess.run([sys.executable, "-c", READER, str(project.root / "proto"), url, str(ROWS)],
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)}, check=False)
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout) == [[f"u{i}@example.com", i % 90] for i in ids]
