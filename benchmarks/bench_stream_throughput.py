"""Benchmark: a Kafka topic of ~150-byte JSON messages into a partitioned Iceberg table, exactly-once.

Starts Tansu (memory storage, tests/services/), produces `--messages` JSON
orders over `--partitions` partitions, then, each in its own process so peak
RSS is the process's own:

- baseline: the raw confluent-kafka consume loop over the same topic (assign
  every partition, `consume(10_000)` until each partition's end, touch every value),
  with towpath's fetch settings (the ratio's base) and with librdkafka's defaults;
- towpath:  `towpath stream run orders.stream.yaml --until-caught-up` with 100k-message
  windows into a table partitioned by `days(created_at)` (one Iceberg commit with the
  offsets per window, dead-letter table beside it), with the defaults a user gets
  (compaction every 10 minutes of the table's clock: none in a run this short);
- the same with `compaction: {every: 10}` (the 1M rows compacted once, at the end), for
  what compaction costs when it falls inside the run;
- the same with two processes, `--worker 1/2` and `--worker 2/2`, into one table;
- towpath's decode + commit path alone (`StreamJob.commit_window`) over the same
  messages fetched into Arrow beforehand: the rate towpath's own CPU allows.

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
import json, sys, time
from confluent_kafka import Consumer, KafkaError, TopicPartition
servers, topic, partitions, settings = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
c = Consumer({"bootstrap.servers": servers, "group.id": "raw", "enable.auto.commit": False,
              "enable.partition.eof": True, **settings})
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

PREFETCHED = """
import json, sys, time
from pathlib import Path
import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, TopicPartition
from towpath.project import Project
from towpath.streaming import StreamJob, StreamStats, WindowBuffer, client_config, load_stream_spec
root, spec_path, partitions, window = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
project = Project(root)
spec = load_stream_spec(spec_path)
topic = spec.source.topics[0]
c = Consumer(client_config(spec, spec_path.parent))
c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
windows, ended, buffer = [], set(), WindowBuffer(topic)
while len(ended) < partitions:
    messages = c.consume(10_000, 1.0)
    good = [m for m in messages if m.error() is None]
    ended.update(m.partition() for m in messages if m.error() is not None
                 and m.error().code() == KafkaError._PARTITION_EOF)
    if good:
        buffer.add(good)
    if buffer.count >= window or (buffer and len(ended) == partitions):
        windows.append((buffer.table(), buffer.lines()))
        buffer = WindowBuffer(topic)
    del messages, good
c.close()
job = StreamJob(spec, spec_path.parent, project.catalog, project.state)
stats = StreamStats(spec.name, "1/1")
expected = {f"{topic}/{p}": None for p in range(partitions)}
start = time.perf_counter()
cpu = time.process_time()
for chunk, lines in windows:
    ends = chunk.group_by("partition").aggregate([("offset", "max")]).to_pydict()
    position = {f"{topic}/{p}": o + 1 for p, o in zip(ends["partition"], ends["offset_max"])}
    begin = {key: expected[key] or 0 for key in position}
    job.commit_window(chunk, begin, {k: expected[k] for k in position}, position, stats, expected, lines=lines)
elapsed = time.perf_counter() - start
print(stats.messages, elapsed, time.process_time() - cpu)
"""


def order(i: int) -> bytes:
    return json.dumps({
        "id": i, "customer": f"c{i % 9973:05d}", "amount": round(i * 0.37 % 5000, 2), "country": "NL",
        "status": "paid" if i % 7 else "refunded", "channel": "web", "created_at": f"2024-01-{1 + i % 7:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
    }).encode()


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[str, float, float, float]:
    """Run `cmd`; returns (stdout, wall seconds, peak RSS MiB, CPU seconds of that process)."""
    return wait_measured(start_measured(cmd, env))


def start_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], float, list[str]]:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env), time.perf_counter(), cmd


def wait_measured(started: tuple[subprocess.Popen[bytes], float, list[str]]) -> tuple[str, float, float, float]:
    proc, start, cmd = started
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

    load_before = os.getloadavg()[0]
    with services.kafka_broker() as broker, tempfile.TemporaryDirectory(prefix="towpath-bench-stream-") as tmp:
        topic = "orders"
        broker.create_topic(topic, partitions=args.partitions)
        values = [order(i) for i in range(args.messages)]
        avg = sum(map(len, values)) / len(values)
        broker.produce(topic, values, partitions=args.partitions)
        del values
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

        def stream_project(name: str, **extra: object) -> tuple[Project, Path]:
            project = Project.init(Path(tmp) / name, name="bench")
            spec = project.root / "orders.stream.yaml"
            spec.write_text(json.dumps({
                "name": "orders", "source": {"bootstrap_servers": broker.bootstrap_servers, "topics": [topic]},
                "format": {"type": "json"}, "schema": "detect", "event_time": "created_at",
                "window": {"duration": "100s", "max_rows": args.window, "max_bytes": 256 * 1024 * 1024},
                "sink": {"table": "lake.orders", "partition_by": ["days(created_at)"]}, **extra,
            }))
            return project, spec

        def stream_cmd(project: Project, spec: Path, *more: str) -> list[str]:
            return [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "stream", "run", str(spec),
                    "--until-caught-up", "--json", *more]

        from towpath.streaming import ConsumerSettings, SourceConfig, consumer_config

        tuned = {k: v for k, v in consumer_config(
            SourceConfig(bootstrap_servers=broker.bootstrap_servers, topics=[topic]), Path(tmp),
            ConsumerSettings("raw", 256 * 1024 * 1024)).items() if k.startswith(("queued.", "fetch.", "max.partition"))}
        raw_default = run_measured([sys.executable, "-c", RAW_LOOP, broker.bootstrap_servers, topic,
                                    str(args.partitions), "{}"], env)
        raw_out, _, raw_rss, raw_cpu = run_measured(
            [sys.executable, "-c", RAW_LOOP, broker.bootstrap_servers, topic, str(args.partitions), json.dumps(tuned)],
            env)
        raw_n, raw_s, _ = raw_out.split()
        project, spec = stream_project("proj")
        out, wall, rss, cpu = run_measured(stream_cmd(project, spec), env)
        stats = json.loads(out)
        rows = project.catalog.read("lake.orders").num_rows
        assert stats["messages"] == args.messages == rows == int(raw_n), (stats["messages"], rows, raw_n)
        files = len(list(project.catalog.table("lake.orders").scan().plan_files()))
        compacting, compacting_spec = stream_project("compacting", compaction={"every": 10})
        c_out, c_wall, c_rss, c_cpu = run_measured(stream_cmd(compacting, compacting_spec), env)
        c_stats = json.loads(c_out)
        assert c_stats["messages"] == args.messages == compacting.catalog.read("lake.orders").num_rows
        two, two_spec = stream_project("two-workers")
        started = [start_measured(stream_cmd(two, two_spec, "--worker", f"{i}/2"), env) for i in (1, 2)]
        workers = [wait_measured(one) for one in started]
        w_stats = [json.loads(one[0]) for one in workers]
        assert sum(w["messages"] for w in w_stats) == args.messages == two.catalog.read("lake.orders").num_rows
        other, other_spec = stream_project("prefetched")
        pre_out, _, pre_rss, _ = run_measured(
            [sys.executable, "-c", PREFETCHED, str(other.root), str(other_spec), str(args.partitions),
             str(args.window)], env)
        pre_n, pre_s, pre_cpu = pre_out.split()
        assert int(pre_n) == args.messages == other.catalog.read("lake.orders").num_rows
        raw_rate = int(raw_n) / float(raw_s)
        default_rate = int(raw_default[0].split()[0]) / float(raw_default[0].split()[1])
        rate = stats["messages"] / stats["elapsed_s"]
        c_rate = c_stats["messages"] / c_stats["elapsed_s"]
        w_elapsed = max(w["elapsed_s"] for w in w_stats)
        w_rate = args.messages / w_elapsed
        pre_rate = int(pre_n) / float(pre_s)
        print(f"{args.messages:,} JSON messages of {avg:.0f} bytes, {args.partitions} partitions, "
              f"windows of {args.window:,} ({stats['windows']} commits, {stats['compactions']} compactions with the "
              f"default cadence, {files} data files at the end); load average before: {load_before:.1f} on "
              f"{os.cpu_count()} cores\n")
        print("| run | msgs/s | ratio to raw | time | CPU s (process) | peak RSS |")
        print("| --- | --- | --- | --- | --- | --- |")
        print(f"| raw confluent-kafka consume loop, librdkafka's default fetch settings | {default_rate:,.0f} | "
              f"{default_rate / raw_rate:.2f}x | {float(raw_default[0].split()[1]):.2f} s | {raw_default[3]:.2f} | "
              f"{raw_default[2]:.0f} MiB |")
        print(f"| raw confluent-kafka consume loop, towpath's fetch settings | {raw_rate:,.0f} | 1.00x | "
              f"{float(raw_s):.2f} s | {raw_cpu:.2f} | {raw_rss:.0f} MiB |")
        print(f"| towpath stream run (exactly-once into Iceberg, defaults) | **{rate:,.0f}** | {rate / raw_rate:.2f}x | "
              f"{stats['elapsed_s']:.2f} s (process {wall:.2f} s) | {cpu:.2f} | {rss:.0f} MiB |")
        print(f"| towpath stream run, `compaction: {{every: 10}}` ({c_stats['compactions']} compaction of all rows, "
              f"at the end) | "
              f"{c_rate:,.0f} | {c_rate / raw_rate:.2f}x | {c_stats['elapsed_s']:.2f} s (process {c_wall:.2f} s) | "
              f"{c_cpu:.2f} | {c_rss:.0f} MiB |")
        print(f"| towpath stream run, two processes `--worker 1/2` and `2/2` | {w_rate:,.0f} | {w_rate / raw_rate:.2f}x | "
              f"{w_elapsed:.2f} s (slower worker) | {' + '.join(f'{w[3]:.2f}' for w in workers)} | "
              f"{' + '.join(f'{w[2]:.0f}' for w in workers)} MiB |")
        print(f"| towpath decode + commit alone, on messages fetched beforehand | {pre_rate:,.0f} | "
              f"{pre_rate / raw_rate:.2f}x | {float(pre_s):.2f} s | {float(pre_cpu):.2f} (this part) | "
              f"{pre_rss:.0f} MiB (all {args.messages:,} held) |")
        print(f"\nload average after the runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"\ntarget: >= 300,000 msgs/s -> {'met' if rate >= 300_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
