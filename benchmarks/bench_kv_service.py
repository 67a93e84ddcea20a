"""The KV service over loopback: single-key gets at a fixed rate WHILE a move writes through the same
service into the same Redis (p99 target < 5 ms at 2,000 req/s), and streamed put-batches over gRPC, each
against its raw baseline in the same run.

Starts a throwaway `redis-server` (tests/services/) and `towpath kv serve` in its
own process, loads `--keys` protobuf-sized values through the service, then:

- reads: an open-loop asyncio load generator (`grpc.aio`) fires Get calls at
  `--rate` per second for `--seconds` (bounded to `--concurrency` in flight, so
  an overloaded service shows as latency, not as a queue in the generator), and
  the same schedule of direct `redis.asyncio` HGETs of the same buckets (the raw
  baseline: no service, no alias resolution). Both run twice: on an idle service,
  then while `towpath move run` (a new process) moves a `--move-rows`-row Iceberg
  table through the same service (gRPC) into the same Redis. The timed windows
  start once the move's first rows are in and must end before the move does (the
  table says if one did not); one second of warm-up before each is excluded.
  The generator is a process of its own (garbage collection frozen and off while
  it fires), and a "generator alone" row times its schedule with no call at all:
  what of the tail is the generator's. The service runs with `--read-budget-ms`
  (default 2): while its Gets are timed it paces the move, and the move's rows/s
  and the write-rate limit are reported for that window. During the raw window
  nobody reads through the service, so the move runs unpaced (as a reader going
  around the DAL to Redis would see it). For each service window it also prints
  the service process's CPU per Get (`/proc`, sampled every 50 ms; its writer
  processes not counted; during the move it includes passing the move's
  put-batches on to them);
- writes: `--rows` rows streamed as Arrow IPC batches through `Client.put_batches`
  (gRPC) against `RedisStore.put_batch` straight into Redis.

Usage: python -m benchmarks.bench_kv_service [--rate 2000] [--seconds 10] [--move-rows 10000000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import services
from benchmarks.bench_move_redis import MOVE, build_project
from towpath.kv import Client, open_store
from towpath.kv._api import SERVICE_NAME
from towpath.kv._pb import kv_pb2 as pb
from towpath.kv._resp import bucket_of


def dataset(rows: int, offset: int = 0) -> tuple[pa.BinaryArray, pa.BinaryArray]:
    keys = [b"\x08" + (i + offset).to_bytes(5, "big") for i in range(rows)]
    values = [b"\x0a\x14user%08d@example.com\x10%c" % (i, 20 + i % 60) for i in range(rows)]
    return pa.array(keys, pa.binary()), pa.array(values, pa.binary())  # type: ignore[return-value]


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


async def open_loop(call: Callable[[bytes], Awaitable[object]], keys: list[bytes], rate: int, seconds: float,
                    concurrency: int) -> tuple[list[float], float]:
    """Latencies (s) of `rate * seconds` calls fired on a fixed schedule, and the achieved rate."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    rng = random.Random(11)
    total = int(rate * seconds)
    start = time.perf_counter()

    async def one(scheduled: float, key: bytes) -> None:
        async with gate:
            await call(key)
            latencies.append(time.perf_counter() - scheduled)  # from when it was due: queueing counts

    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, rng.choice(keys))))
    await asyncio.gather(*tasks)
    return sorted(latencies), total / (time.perf_counter() - start)


async def reads(grpc_port: int, redis_url: str, prefix: str, namespace: str, buckets: int, keys: list[bytes],
                args: argparse.Namespace, when: str, window: list[float]) -> dict[str, tuple[list[float], float]]:
    """The three rows of one phase; `window` gets the (start, end) of the service's timed window."""
    import grpc
    import redis.asyncio as aredis

    out = {}

    async def nothing(key: bytes) -> object:  # the generator alone: how late its own schedule runs
        await asyncio.sleep(0)
        return key

    out[f"generator alone (no call), {when}"] = await open_loop(nothing, keys, args.rate, args.seconds / 2,
                                                                args.concurrency)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        get = channel.unary_unary(f"/{SERVICE_NAME}/Get", request_serializer=pb.GetRequest.SerializeToString,
                                  response_deserializer=pb.GetResponse.FromString)

        async def via_service(key: bytes) -> object:
            answer = await get(pb.GetRequest(namespace="bench", key=key))
            assert answer.found
            return answer

        await open_loop(via_service, keys, args.rate, 1, args.concurrency)  # warm up
        window[0] = time.monotonic()  # the same clock in every process: the parent's samples line up with it
        out[f"service gRPC Get (alias), {when}"] = await open_loop(via_service, keys, args.rate, args.seconds,
                                                                   args.concurrency)
        window[1] = time.monotonic()
    client = aredis.Redis.from_url(redis_url, max_connections=args.concurrency)

    async def raw(key: bytes) -> object:
        value = await client.hget(f"{prefix}:d:{{{namespace}:{bucket_of(key, buckets)}}}", key)
        assert value is not None
        return value

    await open_loop(raw, keys, args.rate, 1, args.concurrency)
    out[f"raw redis.asyncio HGET, {when}"] = await open_loop(raw, keys, args.rate, args.seconds, args.concurrency)
    await client.aclose()
    return out


Rows = dict[str, tuple[list[float], float]]


def generator(*call: object) -> tuple[Rows, list[float]]:
    """`reads` in the load generator's own process: its CPU and GC apart from the benchmark's, the objects
    it built frozen out of the collector and collection off while it fires."""
    import gc

    gc.collect()
    gc.freeze()
    gc.disable()
    window = [0.0, 0.0]
    return asyncio.run(reads(*call, window)), window  # type: ignore[arg-type]


def read_windows(pool: ProcessPoolExecutor, *call: object) -> tuple[Rows, list[float]]:
    return pool.submit(generator, *call).result()


def start_move(root: Path, grpc_port: int) -> subprocess.Popen[bytes]:
    """`towpath move run` of the project's `crm.profiles` through the service, in a new process."""
    move_file = root / "profiles.move.yaml"
    move_file.write_text(MOVE.format(url=f"grpc://127.0.0.1:{grpc_port}", namespace="profiles"))
    return subprocess.Popen([sys.executable, "-m", "towpath.cli.main", "-C", str(root), "move", "run", str(move_file),
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_writes(client: Client, move: subprocess.Popen[bytes]) -> str:
    """Until the move's version namespace holds rows (validation is over and writes are streaming): its name."""
    while move.poll() is None:
        names = [n for n in client.namespaces() if n.startswith("profiles_")]
        if names and client.count(names[0]) > 0:
            return names[0]
        time.sleep(0.05)
    raise SystemExit(f"the move ended before the reads started: {move.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]


@contextlib.contextmanager
def in_background(loop: Callable[[threading.Event], None]) -> Iterator[None]:
    """Run `loop(done)` on a thread for the duration of the block; it must return once `done` is set."""
    done = threading.Event()
    thread = threading.Thread(target=loop, args=(done,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextlib.contextmanager
def limits_sampled(http_port: int, grpc_port: int, version: str) -> Iterator[list[tuple[float, float, int]]]:
    """(when, the service's write-rate limit from `/metrics`, rows in the move's version), every 100 ms."""
    import httpx

    samples: list[tuple[float, float, int]] = []

    def sample(done: threading.Event) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{http_port}") as http, \
                Client(f"grpc://127.0.0.1:{grpc_port}") as client:
            while not done.wait(0.1):
                for line in http.get("/metrics").text.splitlines():
                    if line.startswith("towpath_kv_write_rate_limit_rows "):
                        samples.append((time.monotonic(), float(line.split()[1]), client.count(version)))

    with in_background(sample):
        yield samples


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (its own threads, not its writer processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def cpu_sampled(pid: int) -> Iterator[list[tuple[float, float]]]:
    """(when, CPU seconds of the service process), every 50 ms: its CPU over a window the generator reports."""
    samples: list[tuple[float, float]] = []

    def sample(done: threading.Event) -> None:
        while not done.wait(0.05):
            samples.append((time.monotonic(), cpu_seconds(pid)))

    with in_background(sample):
        yield samples


def cpu_per_call(samples: list[tuple[float, float]], window: list[float], calls: float) -> float:
    """Microseconds of service CPU per call over `window` (the samples nearest its ends)."""
    inside = [s for s in samples if window[0] <= s[0] <= window[1]]
    return (inside[-1][1] - inside[0][1]) / (calls * (inside[-1][0] - inside[0][0]) / (window[1] - window[0])) * 1e6


@contextlib.contextmanager
def serving(engine: str, read_budget_ms: float) -> Iterator[tuple[int, int, int]]:
    """`towpath kv serve` in its own process (as in production: the load generator must not share its GIL);
    its stderr goes to a file (a pipe nobody reads would block it once full), shown if it does not stop."""
    port, grpc_port = services.free_port(), services.free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "towpath.cli.main", "kv", "serve", "--engine", engine,
                                 "--port", str(port), "--grpc-port", str(grpc_port),
                                 "--read-budget-ms", str(read_budget_ms)], stdout=subprocess.DEVNULL, stderr=log)
        try:
            services.wait_for_port(grpc_port, 60, "towpath kv serve")
            services.wait_for_port(port, 60, "towpath kv serve")
            yield port, grpc_port, proc.pid
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                log.seek(0)
                print(f"towpath kv serve did not stop within 60 s of Ctrl-C; its stderr:\n"
                      f"{log.read().decode(errors='replace')[-3000:]}", file=sys.stderr)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--move-rows", type=int, default=10_000_000, help="rows of the move running during the reads")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--read-budget-ms", type=float, default=2.0, help="`kv serve --read-budget-ms` (0: unpaced)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-kv-service-") as tmp, services.redis_server() as server, \
            serving(f"{server.url}?prefix=bench", args.read_budget_ms) as (http_port, grpc_port, pid), \
            Client(f"grpc://127.0.0.1:{grpc_port}") as client, \
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        project = build_project(Path(tmp) / "proj", args.move_rows)
        url = f"{server.url}?prefix=bench"
        keys, values = dataset(args.keys)
        client.create_namespace("bench_1")
        client.put_batch("bench_1", keys, values)
        client.set_alias("bench", "bench_1")
        key_list = keys.to_pylist()
        calls = args.rate * args.seconds
        with cpu_sampled(pid) as cpu:
            lat, idle_window = read_windows(pool, grpc_port, server.url, "bench", "bench_1", 256, key_list, args,
                                            "idle")
        cost = {"idle": cpu_per_call(cpu, idle_window, calls)}
        move = start_move(project.root, grpc_port)
        version = wait_for_writes(client, move)
        with limits_sampled(http_port, grpc_port, version) as samples, cpu_sampled(pid) as cpu:
            during, (begin, end) = read_windows(pool, grpc_port, server.url, "bench", "bench_1", 256, key_list,
                                                args, "during the move")
        cost["during the move"] = cpu_per_call(cpu, [begin, end], calls)
        lat |= during
        served = [s for s in samples if begin <= s[0] <= end]  # while the service's Gets were timed
        while_read = (served[-1][2] - served[0][2]) / (served[-1][0] - served[0][0])
        limits = sorted(s[1] for s in served)
        overlapped = move.poll() is None
        out, err = move.communicate()
        if move.returncode:
            raise SystemExit(f"the move failed: {err.decode()[-2000:]}")
        moved = json.loads(out)

        batches = [dataset(args.batch, offset=10**9 + i) for i in range(0, args.rows, args.batch)]
        client.create_namespace("move_grpc")
        start = time.perf_counter()
        written = client.put_batches("move_grpc", iter(batches))
        grpc_rate = written / (time.perf_counter() - start)
        with open_store(url) as direct:
            direct.create_namespace("move_direct")
            start = time.perf_counter()
            for k, v in batches:
                direct.put_batch("move_direct", k, v)
            direct_rate = args.rows / (time.perf_counter() - start)
            assert direct.count("move_grpc") == direct.count("move_direct") == written

    print(f"{args.keys:,} keys in Redis; {args.rate:,} req/s open loop for {args.seconds:g} s, "
          f"at most {args.concurrency} in flight\n")
    print("| reads | achieved req/s | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, (values_, achieved) in lat.items():
        print(f"| {label} | {achieved:,.0f} | {percentile(values_, .5) * 1e3:.2f} | {percentile(values_, .99) * 1e3:.2f} "
              f"| {values_[-1] * 1e3:.2f} |")
    for when in ("idle", "during the move"):
        service_p99 = percentile(lat[f"service gRPC Get (alias), {when}"][0], .99)
        raw_p99 = percentile(lat[f"raw redis.asyncio HGET, {when}"][0], .99)
        print(f"\nservice p99 / raw p99, {when}: {service_p99 / raw_p99:.2f}x; service process CPU per Get "
              f"{cost[when]:.0f} µs (its writer processes not counted)")
    print(f"\nthe move: {moved['keys']:,} rows through the service at {int(moved['rows_per_s']):,} rows/s end to end; "
          f"{while_read:,.0f} rows/s while the service's Gets were timed "
          f"({'it was still running when the reads ended' if overlapped else 'IT ENDED BEFORE THE READS DID'}; "
          f"kv serve --read-budget-ms {args.read_budget_ms:g})")
    print(f"the service's write-rate limit meanwhile (rows/s, 0 = none; {len(limits)} samples): "
          f"min {limits[0]:,.0f}, median {percentile(limits, .5):,.0f}, max {limits[-1]:,.0f}\n")
    print(f"| writes ({args.rows:,} rows, batches of {args.batch:,}) | rows/s |")
    print("| --- | ---: |")
    print(f"| Client.put_batches over gRPC (Arrow IPC stream) into Redis | {grpc_rate:,.0f} |")
    print(f"| RedisStore.put_batch straight into Redis (baseline) | {direct_rate:,.0f} |")
    print(f"\ngRPC / direct: {grpc_rate / direct_rate:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
