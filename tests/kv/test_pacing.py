"""Reads before bulk writes: the service's write pacing (`towpath.kv.pacing`), its AIMD decisions, its token
bucket, and `towpath kv serve --read-budget-ms` pacing a real put stream on Redis while Gets are served."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pyarrow as pa

import services
from towpath.kv import Client
from towpath.kv.pacing import CHUNK_ROWS, STEP, ReadPacer, WriteGate

_SEQ = itertools.count()


def test_the_pacer_halves_writes_over_the_budget_grows_them_under_it_and_lifts_them_without_reads() -> None:
    gate = WriteGate()
    pacer = ReadPacer(gate, budget=0.002, min_rate=1_000, interval=0.05, idle_after=1.0)
    assert pacer.step(0.0) == 0 and gate.rate == 0  # no reads yet: unlimited
    gate.admit(5_000)  # a batch went through unpaced: 100,000 rows/s over the interval, smoothed to 20,000
    for _ in range(100):
        pacer.observe(0.010)  # reads at 10 ms: over the 2 ms budget
    assert pacer.step(0.05) == 10_000 == gate.rate  # half of what the writes were doing
    for _ in range(100):
        pacer.observe(0.0005)
    assert pacer.step(0.10) == 10_000 + STEP * 20_000  # under budget: additive increase, a step of the peak
    pacer.observe(0.0005)
    pacer.lagged(0.004)  # fast handlers, but the loop ran its timer 4 ms late: reads queued before them
    assert pacer.step(0.15) == (10_000 + STEP * 20_000) / 2
    for moment in (0.2, 0.25, 0.3, 0.35):
        pacer.observe(0.5)
        pacer.step(moment)
    assert gate.rate == 1_000  # never below the floor: a move always finishes
    assert pacer.step(0.36) == 1_000 + STEP * 20_000  # the last read was 10 ms ago: still paced, growing
    assert pacer.step(1.5) == 0 == gate.rate  # no read for over a second: the limit is lifted


def test_the_gate_admits_chunks_at_its_rate_and_lifting_the_limit_frees_a_waiting_writer() -> None:
    gate = WriteGate()
    chunks: list[tuple[int, int]] = []

    def write(start: int, stop: int) -> int:
        chunks.append((start, stop))
        return stop - start

    assert gate.paced(write, 3 * CHUNK_ROWS + 5) == 3 * CHUNK_ROWS + 5 and chunks == [(0, 3 * CHUNK_ROWS + 5)]
    chunks.clear()
    gate.set_rate(CHUNK_ROWS * 10)  # ten chunks a second
    started = time.monotonic()
    assert gate.paced(write, 3 * CHUNK_ROWS) == 3 * CHUNK_ROWS
    assert chunks == [(0, CHUNK_ROWS), (CHUNK_ROWS, 2 * CHUNK_ROWS), (2 * CHUNK_ROWS, 3 * CHUNK_ROWS)]
    assert time.monotonic() - started >= 0.19  # the 2nd and 3rd chunks waited 0.1 s each
    gate.set_rate(CHUNK_ROWS * 20)  # a change of rate does not forgive the slots handed out
    started = time.monotonic()
    gate.paced(write, CHUNK_ROWS)
    assert time.monotonic() - started >= 0.05  # the slot after the 3rd chunk, 0.1 s after it at the old rate
    assert gate.admitted == 7 * CHUNK_ROWS + 5

    gate.set_rate(1)  # one row a second: the next chunk's slot is hours away
    waiting = threading.Thread(target=gate.paced, args=(write, 2 * CHUNK_ROWS))
    waiting.start()
    gate.set_rate(0)
    waiting.join(5)
    assert not waiting.is_alive()


def _metric(port: int, name: str) -> float:
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def _until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def test_kv_serve_paces_a_put_stream_while_gets_are_served_then_lifts_it(redis_server: services.RedisServer) -> None:
    port, grpc_port = services.free_port(), services.free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "towpath.cli.main", "kv", "serve", "--engine",
                             f"{redis_server.url}?prefix=pace{next(_SEQ)}", "--port", str(port), "--grpc-port",
                             str(grpc_port), "--read-budget-ms", "0.001", "--min-write-rate", "20000"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stop, failures = threading.Event(), []
    try:
        services.wait_for_port(port, 30, "towpath kv serve")
        services.wait_for_port(grpc_port, 30, "towpath kv serve")
        assert _metric(port, "towpath_kv_read_budget_seconds") == 1e-6  # --read-budget-ms 0.001
        assert _metric(port, "towpath_kv_write_rate_limit_rows") == 0  # nobody reads: unpaced
        with Client(f"grpc://127.0.0.1:{grpc_port}") as client:
            client.create_namespace("hot_1")
            client.put_batch("hot_1", [b"k1"], [b"v1"])
            client.create_namespace("bulk_1")

            def reader() -> None:
                with Client(f"grpc://127.0.0.1:{grpc_port}") as own:
                    while not stop.wait(0.002):
                        if own.get("hot_1", b"k1") != b"v1":
                            failures.append("a read answered wrong")

            thread = threading.Thread(target=reader)
            thread.start()
            _until(lambda: _metric(port, "towpath_kv_write_rate_limit_rows") == 20_000, "reads pace the writes")
            keys = pa.array([b"r%06d" % i for i in range(30_000)], pa.binary())
            values = pa.array([b"value %d" % i for i in range(30_000)], pa.binary())
            started = time.monotonic()
            written = client.put_batches("bulk_1", ((keys.slice(s, 3_000), values.slice(s, 3_000))
                                                    for s in range(0, 30_000, 3_000)))
            elapsed = time.monotonic() - started
            assert written == 30_000 == client.count("bulk_1")
            assert client.get_many("bulk_1", [b"r000000", b"r029999"]) == [b"value 0", b"value 29999"]
            assert elapsed >= 1.0, elapsed  # 30,000 rows admitted at 20,000 rows/s, the first chunk at once
            stop.set()
            thread.join(10)
            assert not failures
            _until(lambda: _metric(port, "towpath_kv_write_rate_limit_rows") == 0, "the limit is lifted")
    finally:
        stop.set()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
