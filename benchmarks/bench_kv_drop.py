"""Dropping a big version must not stall readers: read latency on the live alias while a 10M-key
namespace is dropped (`drop_namespace`: UNLINK of its bucket hashes), against a blocking `DEL` of
the same data and against no cleanup at all, in one run on one `redis-server` (target: p99 < 10 ms).

A reader thread does back-to-back `get` calls on the live alias through `RedisStore`
(one Lua round trip each) and records every latency; each phase runs for the
cleanup's duration plus a second, or `--quiet` seconds with nothing to clean.

Usage: python -m benchmarks.bench_kv_drop [--keys 10000000]
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import services
from towpath.kv import open_store
from towpath.kv.redis import RedisStore


def load(store: RedisStore, ns: str, keys: int, batch: int = 50_000) -> float:
    store.create_namespace(ns)
    start = time.perf_counter()
    for offset in range(0, keys, batch):
        n = min(batch, keys - offset)
        k = pa.array([b"\x08" + (offset + i).to_bytes(5, "big") for i in range(n)], pa.binary())
        v = pa.array([b"\x0a\x14user%08d@example.com\x10\x2a" % (offset + i) for i in range(n)], pa.binary())
        store.put_batch(ns, k, v)
    return keys / (time.perf_counter() - start)


def read_during(store_url: str, keys: list[bytes], work: object, quiet: float) -> tuple[list[float], float]:
    """Latencies of gets on the alias `live` while `work()` runs (then one more second), and work's seconds."""
    stop = threading.Event()
    latencies: list[float] = []

    def reader() -> None:
        rng = random.Random(3)
        with open_store(store_url) as store:
            while not stop.is_set():
                key = rng.choice(keys)
                start = time.perf_counter()
                assert store.get("live", key) is not None
                latencies.append(time.perf_counter() - start)

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.5)
    latencies.clear()
    start = time.perf_counter()
    if callable(work):
        work()
    else:
        time.sleep(quiet)
    took = time.perf_counter() - start
    time.sleep(1.0)
    stop.set()
    thread.join()
    return sorted(latencies), took


def ms(latencies: list[float], q: float) -> float:
    """The `q` quantile of sorted latencies (seconds), in milliseconds."""
    return latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1e3


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000_000)
    parser.add_argument("--quiet", type=float, default=5.0)
    args = parser.parse_args(argv)
    with services.redis_server() as server:
        url = f"{server.url}?prefix=bench"
        with open_store(url) as opened:
            assert isinstance(opened, RedisStore)
            store = opened
            live_keys = [b"\x08" + i.to_bytes(5, "big") for i in range(100_000)]
            load(store, "live_1", 100_000)
            store.set_alias("live", "live_1")
            rows = {}
            rows["no cleanup"] = read_during(url, live_keys, None, args.quiet)
            rate = load(store, "big_1", args.keys)
            rows[f"drop_namespace of {args.keys:,} keys (UNLINK)"] = read_during(
                url, live_keys, lambda: store.drop_namespace("big_1"), 0)
            load(store, "big_2", args.keys)
            buckets = [store._bucket_key("big_2", b) for b in range(256)]

            def blocking_delete() -> None:
                store.client.hdel(store._namespaces_key, "big_2")
                for key in buckets:
                    store.client.delete(key)

            rows[f"DEL of the same {args.keys:,} keys (blocking, baseline)"] = read_during(
                url, live_keys, blocking_delete, 0)
    print(f"{args.keys:,} keys loaded at {rate:,.0f} rows/s; reads: back-to-back gets on the live alias\n")
    print("| while | cleanup s | reads | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, (lat, took) in rows.items():
        cleanup = "-" if label == "no cleanup" else f"{took:.2f}"
        print(f"| {label} | {cleanup} | {len(lat):,} | {ms(lat, .5):.2f} | {ms(lat, .99):.2f} | {lat[-1] * 1e3:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
