"""Benchmark: produce -> visible latency of `towpath stream run` with `window: 1s` at a steady 10k msgs/s.

Starts Tansu (tests/services/) and `towpath stream run` in its own process, then
produces `--rate` messages per second for `--seconds`, each carrying its send
time. A reader polls the catalog every 20 ms and records when each new
snapshot became visible; a message's latency is the visibility time of the
snapshot holding it minus its send time (both on this machine's clock).
Baseline: the raw confluent-kafka produce -> consume latency of the same messages
in the same run (a consumer assigned to the topic, no lake). The first window
(which creates the table) is a warm-up, outside the figures. Prints p50/p99/max
and the stream process's peak RSS as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import services

WARMUP = 100


def percentile(values: pa.Array, q: float) -> float:
    return float(pc.quantile(values, q=q)[0].as_py())


def raw_latencies(servers: str, topic: str, partitions: int, expected: int, out: list[float]) -> None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": servers, "group.id": "raw-latency", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    deadline = time.monotonic() + 600
    while len(out) < expected and time.monotonic() < deadline:
        for message in consumer.consume(1000, 0.1):
            if message.error() is None:
                sent_ms = json.loads(message.value())["sent_ms"]
                if sent_ms:  # not a warm-up message
                    out.append(time.time() * 1000 - sent_ms)
    consumer.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args(argv)
    from confluent_kafka import Producer

    from towpath.project import Project

    total = args.rate * args.seconds
    with services.kafka_broker() as broker, tempfile.TemporaryDirectory(prefix="towpath-bench-latency-") as tmp:
        topic = "events"
        broker.create_topic(topic, partitions=args.partitions)
        project = Project.init(Path(tmp) / "proj", name="latency")
        spec = project.root / "events.stream.yaml"
        spec.write_text(json.dumps({
            "name": "events", "source": {"bootstrap_servers": broker.bootstrap_servers, "topics": [topic],
                                          "start": "earliest"},
            "schema": [{"name": "id", "type": "bigint"}, {"name": "sent_ms", "type": "double"},
                       {"name": "payload", "type": "string"}],
            "window": {"duration": "1s"}, "compaction": {"enabled": False},
            "sink": {"table": "lake.events"},
        }))
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.Popen([sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "stream", "run",
                                 str(spec), "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        warmup = Producer({"bootstrap.servers": broker.bootstrap_servers})
        for i in range(WARMUP):  # the first window creates the table: not part of the steady state measured
            warmup.produce(topic, json.dumps({"id": -1 - i, "sent_ms": 0.0, "payload": "warm-up"}).encode(),
                           partition=i % args.partitions)
        warmup.flush(30)
        while not (project.catalog.exists("lake.events") and project.catalog.read("lake.events").num_rows >= WARMUP):
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-3000:] if proc.stderr else "stream run failed")
            time.sleep(0.05)
        warmed = {s.snapshot_id for s in project.catalog.table("lake.events").snapshots()}
        visible: dict[int, float] = {}
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                if project.catalog.exists("lake.events"):
                    table = project.catalog.table("lake.events")
                    now = time.time() * 1000
                    for snapshot in table.snapshots():
                        if snapshot.snapshot_id not in warmed:
                            visible.setdefault(snapshot.snapshot_id, now)
                time.sleep(0.02)

        raw: list[float] = []
        threads = [threading.Thread(target=poll),
                   threading.Thread(target=raw_latencies, args=(broker.bootstrap_servers, topic, args.partitions,
                                                                 total, raw))]
        for thread in threads:
            thread.start()
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 5})
        start = time.monotonic()
        tick = 0.01
        per_tick = max(1, int(args.rate * tick))
        sent = 0
        while sent < total:
            target = start + (sent / args.rate)
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now_ms = time.time() * 1000
            for _ in range(min(per_tick, total - sent)):
                producer.produce(topic, json.dumps({"id": sent, "sent_ms": now_ms, "payload": "x" * 80}).encode(),
                                 partition=sent % args.partitions)
                sent += 1
            producer.poll(0)
        producer.flush(30)
        produce_s = time.monotonic() - start
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if project.catalog.read("lake.events").num_rows >= total + WARMUP:
                break
            time.sleep(0.1)
        time.sleep(0.1)
        done.set()
        threads[0].join()
        threads[1].join(60)
        proc.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(proc.stderr.read().decode()[-3000:] if proc.stderr else "stream run failed")
        table = project.catalog.table("lake.events")
        entries = table.inspect.entries()
        latencies = []
        for snapshot_id, data_file in zip(entries["snapshot_id"].to_pylist(), entries["data_file"].to_pylist(),
                                          strict=True):
            if snapshot_id in warmed:
                continue
            sent_ms = pq.read_table(data_file["file_path"].removeprefix("file://"), columns=["sent_ms"])["sent_ms"]
            latencies.append(pc.subtract(pa.scalar(visible[snapshot_id]), sent_ms))
        lake = pa.chunked_array(latencies).combine_chunks() if latencies else pa.array([], pa.float64())
        raw_array = pa.array(raw, pa.float64())
        assert len(lake) == total, (len(lake), total)
        print(f"{total:,} messages at {args.rate:,}/s for {args.seconds}s (produced in {produce_s:.1f}s), "
              f"{args.partitions} partitions, window 1s, {len(entries)} data files\n")
        print("| path | p50 | p99 | max | target |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| raw: produce -> confluent-kafka consumer | {percentile(raw_array, 0.5):,.0f} ms | "
              f"{percentile(raw_array, 0.99):,.0f} ms | {pc.max(raw_array).as_py():,.0f} ms | |")
        p99 = percentile(lake, 0.99)
        print(f"| towpath: produce -> visible in the Iceberg table | {percentile(lake, 0.5):,.0f} ms | {p99:,.0f} ms | "
              f"{pc.max(lake).as_py():,.0f} ms | p99 < 3000 ms {'met' if p99 < 3000 else 'NOT met'} |")
        print(f"\nstream process peak RSS {usage.ru_maxrss / 1024:.0f} MiB; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
