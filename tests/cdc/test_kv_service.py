"""CDC into the KV store through the `kv serve` service over Redis: kill -9 mid-stream, restart, nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from cdc_case import SRC, CdcCase, Writer, kill_mid_stream, seed

import services


@pytest.fixture
def kv_service(redis_server: services.RedisServer, cdc_case: CdcCase) -> Iterator[str]:
    """`towpath kv serve` over the session's Redis (this test's own key prefix), in its own process; its URL."""
    port = services.free_port()
    engine = f"{redis_server.url}?prefix={cdc_case.name}"
    proc = subprocess.Popen([sys.executable, "-m", "towpath.cli.main", "kv", "serve", "--engine", engine,
                             "--port", str(port)], env={**os.environ, "PYTHONPATH": SRC},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        services.wait_for_port(port, 60, "towpath kv serve")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_kill_9_with_the_kv_target_behind_kv_serve_then_restart(cdc_case: CdcCase, kv_service: str) -> None:
    """The job's KV target is the service (HTTP), not the embedded engine: after three kill -9 the namespace is the source."""
    cdc_case.spec.write_text(cdc_case.spec.read_text().replace(
        f"{{type: kv, namespace: {cdc_case.name}}}", f"{{type: kv, namespace: {cdc_case.name}, url: '{kv_service}'}}"))
    seed(cdc_case, 100)
    writer = Writer(cdc_case, seed=31)
    writer.start()
    try:
        kill_mid_stream(cdc_case)
    finally:
        writer.stop.set()
        writer.join()
    assert writer.transactions > 3
    cdc_case.cli("cdc", "run", str(cdc_case.spec), "--until-caught-up")
    source = cdc_case.source_rows()
    kv = cdc_case.kv_rows(kv_service)
    assert sorted(kv.keys() - source.keys()) == [] and sorted(source.keys() - kv.keys()) == []
    for key, row in source.items():
        assert kv[key] == row, key
