"""The KV service over loopback: single-key gets at a fixed rate WHILE a move writes through the same
service into the same Redis (p99 target < 5 ms at 2,000 req/s), and streamed put-batches over gRPC, each
against its raw baseline in the same run.

Starts a throwaway `redis-server` (tests/services/) and `towpath kv serve` in its
own process, loads `--keys` protobuf-sized values through the service, then:

- reads: an open-loop asyncio load generator fires single-key Gets at `--rate`
  per second for `--seconds` (bounded to `--concurrency` in flight, so an
  overloaded service shows as latency, not as a queue in the generator;
  latency counts from when each call was due), three ways on the same
  schedule: gRPC Gets (`grpc.aio`), HTTP Gets (`GET /v1/kv/<ns>/<key>` over a
  bounded pool of `--http-connections` HTTP/1.1 keep-alive connections, a
  client of a few dozen lines on `asyncio.Protocol` so the generator costs far
  less than what it measures), and direct `redis.asyncio` HGETs of the same
  buckets (the raw baseline: no service, no alias resolution). All run twice:
  on an idle service, then while `towpath move run` (a new process) moves a
  `--move-rows`-row Iceberg table through the same service (gRPC) into the
  same Redis. The timed windows start once the move's first rows are in and
  must end before the move does (the output says if one did not); one second
  of warm-up before each is excluded. The generator is a process of its own
  (garbage collection frozen and off while it fires), and a "generator alone"
  row times its schedule with no call at all: what of the tail is the
  generator's; each row also gives the generator's CPU per call. The service
  runs with `--read-budget-ms` (default 2): while its Gets (either API) are
  timed it paces the move, and the move's rows/s and the write-rate limit are
  reported for each service window. During the raw window nobody reads
  through the service, so the move runs unpaced (as a reader going around the
  DAL to Redis would see it). For each service row it also prints the service
  process's CPU per Get (`/proc`, sampled every 50 ms; its writer processes
  not counted; during the move it includes passing the move's put-batches on
  to them), and the HTTP stack the service runs (uvloop, httptools: whatever
  this interpreter has);
- writes: `--rows` rows streamed as Arrow IPC batches through `Client.put_batches`
  (gRPC) against `RedisStore.put_batch` straight into Redis.

Usage: python -m benchmarks.bench_kv_service [--rate 2000] [--seconds 10] [--move-rows 10000000] [--move-nice 19] [--http-connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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
from towpath.cli.move import BATCH_NICENESS
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


Row = tuple[list[float], float, float]
"""One row: sorted latencies (s), the achieved rate, and the generator's CPU per call (µs)."""


async def open_loop(call: Callable[[bytes], Awaitable[object]], keys: list[bytes], rate: int, seconds: float,
                    concurrency: int) -> Row:
    """Latencies (s) of `rate * seconds` calls fired on a fixed schedule, the achieved rate, and the CPU the
    generator's process spent per call (µs)."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    rng = random.Random(11)
    total = int(rate * seconds)
    cpu = time.process_time()
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
    return sorted(latencies), total / (time.perf_counter() - start), (time.process_time() - cpu) / total * 1e6


class _HttpConnection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection of the generator, one request at a time: the request's bytes are
    built ahead, the answer's head is read only for its status and `content-length` (no HTTP library: the
    generator must cost far less than what it measures)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.waiting: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15:head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        body, self.buffer = self.buffer[end + 4:end + 4 + length], self.buffer[end + 4 + length:]
        waiting, self.waiting = self.waiting, None
        assert waiting is not None
        waiting.set_result((int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(ConnectionError(f"the service closed the connection: {exc}"))

    def request(self, payload: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiting


async def http_pool(port: int, size: int) -> asyncio.Queue[_HttpConnection]:
    """`size` open keep-alive connections to the service's HTTP port: a bounded pool (a busy service shows as
    latency, calls waiting for a free connection, not as ever more connections)."""
    loop = asyncio.get_running_loop()
    pool: asyncio.Queue[_HttpConnection] = asyncio.Queue()
    for _ in range(size):
        _, connection = await loop.create_connection(_HttpConnection, "127.0.0.1", port)
        pool.put_nowait(connection)
    return pool


async def reads(ports: tuple[int, int], redis_url: str, prefix: str, namespace: str, buckets: int, keys: list[bytes],
                args: argparse.Namespace, when: str, windows: dict[str, list[float]]) -> dict[str, Row]:
    """The four rows of one phase; `windows` gets the (start, end) of each service row's timed window."""
    import grpc
    import redis.asyncio as aredis

    http_port, grpc_port = ports
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
        label = f"service gRPC Get (alias), {when}"
        windows[label] = [time.monotonic()]  # the same clock in every process: the parent's samples line up
        out[label] = await open_loop(via_service, keys, args.rate, args.seconds, args.concurrency)
        windows[label].append(time.monotonic())

    pool = await http_pool(http_port, args.http_connections)
    paths = {key: f"GET /v1/kv/bench/{base64.urlsafe_b64encode(key).decode().rstrip('=')} HTTP/1.1\r\n"
                  "Host: bench\r\n\r\n".encode() for key in keys}

    async def via_http(key: bytes) -> object:
        connection = await pool.get()
        try:
            status, value = await connection.request(paths[key])
        finally:
            pool.put_nowait(connection)
        assert status == 200, (status, value)
        return value

    await open_loop(via_http, keys, args.rate, 1, args.concurrency)  # warm up
    label = f"service HTTP Get (alias), {when}"
    windows[label] = [time.monotonic()]
    out[label] = await open_loop(via_http, keys, args.rate, args.seconds, args.concurrency)
    windows[label].append(time.monotonic())
    while not pool.empty():
        connection = pool.get_nowait()
        assert connection.transport is not None
        connection.transport.close()
    client = aredis.Redis.from_url(redis_url, max_connections=args.concurrency)

    async def raw(key: bytes) -> object:
        value = await client.hget(f"{prefix}:d:{{{namespace}:{bucket_of(key, buckets)}}}", key)
        assert value is not None
        return value

    await open_loop(raw, keys, args.rate, 1, args.concurrency)
    out[f"raw redis.asyncio HGET, {when}"] = await open_loop(raw, keys, args.rate, args.seconds, args.concurrency)
    await client.aclose()
    return out


Rows = dict[str, Row]
Windows = dict[str, list[float]]


def generator(*call: object) -> tuple[Rows, Windows]:
    """`reads` in the load generator's own process: its CPU and GC apart from the benchmark's, the objects
    it built frozen out of the collector and collection off while it fires."""
    import gc

    gc.collect()
    gc.freeze()
    gc.disable()
    windows: Windows = {}
    return asyncio.run(reads(*call, windows)), windows  # type: ignore[arg-type, call-arg]


def read_windows(pool: ProcessPoolExecutor, *call: object) -> tuple[Rows, Windows]:
    return pool.submit(generator, *call).result()


def start_move(root: Path, grpc_port: int, nice: int) -> subprocess.Popen[bytes]:
    """`towpath move run --nice NICE` of the project's `crm.profiles` through the service, in a new process."""
    move_file = root / "profiles.move.yaml"
    move_file.write_text(MOVE.format(url=f"grpc://127.0.0.1:{grpc_port}", namespace="profiles"))
    return subprocess.Popen([sys.executable, "-m", "towpath.cli.main", "-C", str(root), "move", "run",
                             str(move_file), "--json", "--nice", str(nice)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


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


def http_stack() -> str:
    """What the service (this interpreter, in a process of its own) serves HTTP with."""
    from importlib.util import find_spec

    loop = "uvloop" if find_spec("uvloop") else "the stdlib asyncio loop (uvloop not installed)"
    parser = "httptools" if find_spec("httptools") else "h11"
    return f"{loop}, point reads by towpath's HttpFront, other routes by uvicorn's {parser} protocol"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--http-connections", type=int, default=32, help="the HTTP generator's keep-alive pool")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--move-rows", type=int, default=10_000_000, help="rows of the move running during the reads")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--read-budget-ms", type=float, default=2.0, help="`kv serve --read-budget-ms` (0: unpaced)")
    parser.add_argument("--move-nice", type=int, default=BATCH_NICENESS,
                        help="`towpath move run --nice` (its default: a batch job on a host it shares with the service)")
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
        ports = (http_port, grpc_port)
        with cpu_sampled(pid) as cpu:
            lat, windows = read_windows(pool, ports, server.url, "bench", "bench_1", 256, key_list, args, "idle")
        cost = {label: cpu_per_call(cpu, window, calls) for label, window in windows.items()}
        move = start_move(project.root, grpc_port, args.move_nice)
        version = wait_for_writes(client, move)
        with limits_sampled(http_port, grpc_port, version) as samples, cpu_sampled(pid) as cpu:
            during, windows = read_windows(pool, ports, server.url, "bench", "bench_1", 256, key_list, args,
                                           "during the move")
        cost |= {label: cpu_per_call(cpu, window, calls) for label, window in windows.items()}
        lat |= during
        paced = {}  # per service row: (the move's rows/s, the sorted write-rate limits) while its Gets were timed
        for label, (begin, end) in windows.items():
            served = [s for s in samples if begin <= s[0] <= end]
            paced[label] = ((served[-1][2] - served[0][2]) / (served[-1][0] - served[0][0]),
                            sorted(s[1] for s in served))
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

    stack = http_stack()
    print(f"{args.keys:,} keys in Redis; {args.rate:,} req/s open loop for {args.seconds:g} s, at most "
          f"{args.concurrency} in flight (HTTP: over {args.http_connections} keep-alive connections); the service "
          f"answers HTTP on {stack}\n")
    print("| reads | achieved req/s | p50 ms | p99 ms | max ms | service CPU per Get µs | generator CPU per call µs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, (values_, achieved, generator_cpu) in lat.items():
        service_cpu = f"{cost[label]:.0f}" if label in cost else ""
        print(f"| {label} | {achieved:,.0f} | {percentile(values_, .5) * 1e3:.2f} | {percentile(values_, .99) * 1e3:.2f} "
              f"| {values_[-1] * 1e3:.2f} | {service_cpu} | {generator_cpu:.0f} |")
    print("\n(service CPU: the service process's own, its writer processes not counted; during the move it includes "
          "passing the move's put-batches on to them)")
    for when in ("idle", "during the move"):
        raw_p99 = percentile(lat[f"raw redis.asyncio HGET, {when}"][0], .99)
        ratios = ", ".join(f"{api} {percentile(lat[f'service {api} Get (alias), {when}'][0], .99) / raw_p99:.2f}x"
                           for api in ("gRPC", "HTTP"))
        print(f"service p99 / raw p99, {when}: {ratios}")
    print(f"\nthe move: {moved['keys']:,} rows through the service at {int(moved['rows_per_s']):,} rows/s end to end "
          f"({'it was still running when the reads ended' if overlapped else 'IT ENDED BEFORE THE READS DID'}; "
          f"kv serve --read-budget-ms {args.read_budget_ms:g}); while the service's Gets were timed:")
    for label, (while_read, limits) in paced.items():
        print(f"- {label.split(',')[0]}: the move wrote {while_read:,.0f} rows/s; the write-rate limit (rows/s, "
              f"0 = none; {len(limits)} samples) min {limits[0]:,.0f}, median {percentile(limits, .5):,.0f}, "
              f"max {limits[-1]:,.0f}")
    print()
    print(f"| writes ({args.rows:,} rows, batches of {args.batch:,}) | rows/s |")
    print("| --- | ---: |")
    print(f"| Client.put_batches over gRPC (Arrow IPC stream) into Redis | {grpc_rate:,.0f} |")
    print(f"| RedisStore.put_batch straight into Redis (baseline) | {direct_rate:,.0f} |")
    print(f"\ngRPC / direct: {grpc_rate / direct_rate:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
