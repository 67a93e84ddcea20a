"""The embedded KV engine's choice, measured: LMDB (the `lmdb` wheel) against SQLite, one file per namespace.

Both are driven the way the embedded engine uses them: batched writes of
protobuf-sized values in one transaction per batch, random single-key reads,
batched `get_many`-style reads, a full scan, and dropping the namespace (a file
delete for both). SQLite is given its fastest safe settings for a bulk load
(WAL, `synchronous=OFF`, a `WITHOUT ROWID` table keyed by the blob). LMDB runs
with `sync=False` and a sparse map, as the engine does.

Usage: python -m benchmarks.bench_kv_embedded [--rows 1000000] [--batch 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def dataset(rows: int) -> tuple[list[bytes], list[bytes]]:
    keys = [b"\x08" + i.to_bytes(4, "big") for i in range(rows)]
    values = [b"\x0a\x14user%08d@example.com\x10%c" % (i, 20 + i % 60) for i in range(rows)]
    return keys, values


class Lmdb:
    name = "LMDB"

    def __init__(self, path: Path) -> None:
        import lmdb

        self.path = path / "ns.mdb"
        self.env = lmdb.open(str(self.path), subdir=False, map_size=1 << 40, sync=False, metasync=False,
                             readahead=False, max_dbs=0, lock=True)

    def put(self, keys: list[bytes], values: list[bytes]) -> None:
        with self.env.begin(write=True) as txn:
            txn.cursor().putmulti(zip(keys, values))

    def get(self, key: bytes) -> bytes | None:
        with self.env.begin(buffers=False) as txn:
            return txn.get(key)  # type: ignore[no-any-return]

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        with self.env.begin() as txn:
            return [txn.get(k) for k in keys]

    def scan(self) -> int:
        with self.env.begin() as txn:
            return sum(1 for _ in txn.cursor())

    def drop(self) -> None:
        self.env.close()
        os.unlink(self.path)
        os.unlink(str(self.path) + "-lock")


class Sqlite:
    name = "SQLite"

    def __init__(self, path: Path) -> None:
        self.path = path / "ns.sqlite"
        self.con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=OFF")
        self.con.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")

    def put(self, keys: list[bytes], values: list[bytes]) -> None:
        self.con.execute("BEGIN")
        self.con.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", zip(keys, values))
        self.con.execute("COMMIT")

    def get(self, key: bytes) -> bytes | None:
        row = self.con.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return None if row is None else row[0]  # type: ignore[no-any-return]

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        found: dict[bytes, bytes] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self.con.execute(f"SELECT k, v FROM kv WHERE k IN ({marks})", chunk).fetchall())
        return [found.get(k) for k in keys]

    def scan(self) -> int:
        return sum(1 for _ in self.con.execute("SELECT k, v FROM kv"))

    def drop(self) -> None:
        self.con.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(engine_cls: type[Lmdb | Sqlite], keys: list[bytes], values: list[bytes], batch: int,
        probes: list[bytes]) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="towpath-bench-kv-"))
    try:
        engine = engine_cls(folder)
        write = timed(lambda: [engine.put(keys[i:i + batch], values[i:i + batch]) for i in range(0, len(keys), batch)])
        lat = []
        for key in probes:
            start = time.perf_counter()
            engine.get(key)
            lat.append(time.perf_counter() - start)
        lat.sort()
        many = timed(lambda: [engine.get_many(probes[i:i + 100]) for i in range(0, len(probes), 100)])
        scan = timed(engine.scan)
        size = sum(p.stat().st_size for p in folder.iterdir())
        drop = timed(engine.drop)
        return {"write": len(keys) / write, "get_p50": lat[len(lat) // 2] * 1e6, "get_p99": lat[int(len(lat) * .99)] * 1e6,
                "get_many": len(probes) / many, "scan": len(keys) / scan, "size": size / 2**20, "drop": drop * 1e3}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=100_000)
    args = parser.parse_args(argv)
    keys, values = dataset(args.rows)
    probes = random.Random(7).choices(keys, k=args.probes)
    results = {cls.name: run(cls, keys, values, args.batch, probes) for cls in (Lmdb, Sqlite)}
    print(f"{args.rows:,} keys, batches of {args.batch:,}, {args.probes:,} random probes\n")
    print("| engine | write rows/s | get p50 µs | get p99 µs | get_many keys/s | scan rows/s | file MiB | drop ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        print(f"| {name} | {r['write']:,.0f} | {r['get_p50']:.1f} | {r['get_p99']:.1f} | {r['get_many']:,.0f} | "
              f"{r['scan']:,.0f} | {r['size']:.0f} | {r['drop']:.1f} |")
    lm, sq = results["LMDB"], results["SQLite"]
    print(f"\nLMDB / SQLite: writes {lm['write'] / sq['write']:.2f}x, get p99 {sq['get_p99'] / lm['get_p99']:.2f}x faster, "
          f"get_many {lm['get_many'] / sq['get_many']:.2f}x, scan {lm['scan'] / sq['scan']:.2f}x")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
