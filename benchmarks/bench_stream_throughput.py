"""Benchmark: a Kafka topic of ~150-byte JSON messages into a partitioned Iceberg table, exactly-once.

Starts Tansu (memory storage, tests/services/), produces `--messages` JSON
orders over `--partitions` partitions, then, each in its own process so peak
RSS is the process's own:

- baseline: the raw confluent-kafka consume loop over the same topic (assign
  every partition, `consume(10_000)` until each partition's end, touch every value);
- towpath:  `towpath stream run orders.stream.yaml --until-caught-up` with 100k-message
  windows into a table partitioned by `days(created_at)` (one Iceberg commit with the
  offsets per window, dead-letter table beside it, compaction every 10 windows).

Prints messages/s, the ratio to the raw loop and each process's peak RSS as a
Markdown table. Run: `python -m benchmarks.bench_stream_throughput [--messages N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import services

RAW_LOOP = """
import sys, time
from confluent_kafka import Consumer, KafkaError, TopicPartition
servers, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer({"bootstrap.servers": servers, "group.id": "raw", "enable.auto.commit": False,
              "enable.partition.eof": True})
start = time.perf_counter()
c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
n, size, ended = 0, 0, set()
while len(ended) < partitions:
    for m in c.consume(10_000, 1.0):
        if m.error() is None:
            n += 1
            size += len(m.value())
        elif m.error().code() == KafkaError._PARTITION_EOF:
            ended.add(m.partition())
elapsed = time.perf_counter() - start
c.close()
print(n, elapsed, size)
"""


def order(i: int) -> bytes:
    return json.dumps({
        "id": i, "customer": f"c{i % 9973:05d}", "amount": round(i * 0.37 % 5000, 2), "country": "NL",
        "status": "paid" if i % 7 else "refunded", "channel": "web", "created_at": f"2024-01-{1 + i % 7:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
    }).encode()


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[str, float, float, float]:
    """Run `cmd`; returns (stdout, wall seconds, peak RSS MiB, CPU seconds of that process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[:4]} failed: {proc.stderr.read().decode()[-3000:] if proc.stderr else ''}")
    return out.decode(), wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--window", type=int, default=100_000, help="max messages per window")
    args = parser.parse_args(argv)
    from towpath.project import Project

    with services.kafka_broker() as broker, tempfile.TemporaryDirectory(prefix="towpath-bench-stream-") as tmp:
        topic = "orders"
        broker.create_topic(topic, partitions=args.partitions)
        values = [order(i) for i in range(args.messages)]
        avg = sum(map(len, values)) / len(values)
        broker.produce(topic, values, partitions=args.partitions)
        del values
        project = Project.init(Path(tmp) / "proj", name="bench")
        spec = project.root / "orders.stream.yaml"
        spec.write_text(json.dumps({
            "name": "orders", "source": {"bootstrap_servers": broker.bootstrap_servers, "topics": [topic]},
            "format": {"type": "json"}, "schema": "detect", "event_time": "created_at",
            "window": {"duration": "100s", "max_rows": args.window, "max_bytes": 256 * 1024 * 1024},
            "sink": {"table": "lake.orders", "partition_by": ["days(created_at)"]},
        }))
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        raw_out, _, raw_rss, raw_cpu = run_measured(
            [sys.executable, "-c", RAW_LOOP, broker.bootstrap_servers, topic, str(args.partitions)], env)
        raw_n, raw_s, _ = raw_out.split()
        out, wall, rss, cpu = run_measured(
            [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "stream", "run", str(spec),
             "--until-caught-up", "--json"], env)
        stats = json.loads(out)
        rows = project.catalog.read("lake.orders").num_rows
        assert stats["messages"] == args.messages == rows == int(raw_n), (stats["messages"], rows, raw_n)
        raw_rate = int(raw_n) / float(raw_s)
        rate = stats["messages"] / stats["elapsed_s"]
        files = len(list(project.catalog.table("lake.orders").scan().plan_files()))
        print(f"{args.messages:,} JSON messages of {avg:.0f} bytes, {args.partitions} partitions, "
              f"windows of {args.window:,} ({stats['windows']} commits, {stats['compactions']} compactions, "
              f"{files} data files at the end)\n")
        print("| run | msgs/s | ratio to raw | time | CPU s (process) | peak RSS |")
        print("| --- | --- | --- | --- | --- | --- |")
        print(f"| raw confluent-kafka consume loop | {raw_rate:,.0f} | 1.00x | {float(raw_s):.2f} s | {raw_cpu:.2f} | "
              f"{raw_rss:.0f} MiB |")
        print(f"| towpath stream run (exactly-once into Iceberg) | {rate:,.0f} | {rate / raw_rate:.2f}x | "
              f"{stats['elapsed_s']:.2f} s (process {wall:.2f} s) | {cpu:.2f} | {rss:.0f} MiB |")
        print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"\ntarget: >= 300,000 msgs/s -> {'met' if rate >= 300_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
