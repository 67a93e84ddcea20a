"""The KV service over loopback: single-key gets at a fixed rate (p99 target < 5 ms at 2,000 req/s) and
streamed put-batches over gRPC into Redis, each against its raw baseline in the same run.

Starts a throwaway `redis-server` (tests/services/), loads `--keys` protobuf-sized
values through the service, then:

- reads: an open-loop asyncio load generator (`grpc.aio`) fires Get calls at
  `--rate` per second for `--seconds` (bounded to `--concurrency` in flight, so
  an overloaded service shows as latency, not as a queue in the generator), and
  the same schedule of direct `redis.asyncio` HGETs of the same buckets (the raw
  baseline: no service, no alias resolution);
- writes: `--rows` rows streamed as Arrow IPC batches through `Client.put_batches`
  (gRPC) against `RedisStore.put_batch` straight into Redis.

Usage: python -m benchmarks.bench_kv_service [--rate 2000] [--seconds 10] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import services
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
                args: argparse.Namespace) -> dict[str, tuple[list[float], float]]:
    import grpc
    import redis.asyncio as aredis

    out = {}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        get = channel.unary_unary(f"/{SERVICE_NAME}/Get", request_serializer=pb.GetRequest.SerializeToString,
                                  response_deserializer=pb.GetResponse.FromString)

        async def via_service(key: bytes) -> object:
            answer = await get(pb.GetRequest(namespace="bench", key=key))
            assert answer.found
            return answer

        await open_loop(via_service, keys, args.rate, 1, args.concurrency)  # warm up
        out["service gRPC Get (alias)"] = await open_loop(via_service, keys, args.rate, args.seconds, args.concurrency)
    client = aredis.Redis.from_url(redis_url, max_connections=args.concurrency)

    async def raw(key: bytes) -> object:
        value = await client.hget(f"{prefix}:d:{{{namespace}:{bucket_of(key, buckets)}}}", key)
        assert value is not None
        return value

    await open_loop(raw, keys, args.rate, 1, args.concurrency)
    out["raw redis.asyncio HGET"] = await open_loop(raw, keys, args.rate, args.seconds, args.concurrency)
    await client.aclose()
    return out


@contextlib.contextmanager
def serving(engine: str) -> Iterator[int]:
    """`towpath kv serve` in its own process (as in production: the load generator must not share its GIL)."""
    port, grpc_port = services.free_port(), services.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "towpath.cli.main", "kv", "serve", "--engine", engine,
                             "--port", str(port), "--grpc-port", str(grpc_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        services.wait_for_port(grpc_port, 60, "towpath kv serve")
        services.wait_for_port(port, 60, "towpath kv serve")
        yield grpc_port
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args(argv)
    with services.redis_server() as server, serving(f"{server.url}?prefix=bench") as grpc_port, \
            Client(f"grpc://127.0.0.1:{grpc_port}") as client:
        url = f"{server.url}?prefix=bench"
        keys, values = dataset(args.keys)
        client.create_namespace("bench_1")
        client.put_batch("bench_1", keys, values)
        client.set_alias("bench", "bench_1")
        lat = asyncio.run(reads(grpc_port, server.url, "bench", "bench_1", 256, keys.to_pylist(), args))

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
    service_p99 = percentile(lat["service gRPC Get (alias)"][0], .99)
    raw_p99 = percentile(lat["raw redis.asyncio HGET"][0], .99)
    print(f"\nservice p99 / raw p99: {service_p99 / raw_p99:.2f}x\n")
    print(f"| writes ({args.rows:,} rows, batches of {args.batch:,}) | rows/s |")
    print("| --- | ---: |")
    print(f"| Client.put_batches over gRPC (Arrow IPC stream) into Redis | {grpc_rate:,.0f} |")
    print(f"| RedisStore.put_batch straight into Redis (baseline) | {direct_rate:,.0f} |")
    print(f"\ngRPC / direct: {grpc_rate / direct_rate:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
