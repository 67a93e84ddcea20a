"""`towpath move run` from an Iceberg table into Redis (target: >= 300k rows/s end to end, peak RSS < 500 MiB).

Builds a project whose `crm.profiles` Iceberg table holds `--rows` rows (10M by
default) of a flat 8-column schema (`profile_id` key; 7 value columns), starts a
throwaway `redis-server` (tests/services/) and times, in the same run:

- towpath: `towpath move run profiles.move.yaml --json` in a NEW process, end to
  end (project load, source pinning, validation pass over the keys, encode, write,
  audits, alias swap); its peak RSS from `wait4`;
- the limit: `redis-cli --pipe` loading the same keys and values (one `SET` per
  row, the RESP file prepared beforehand and not timed);
- what a user writes without towpath: pyiceberg batches -> one protobuf message
  per row with the generated class -> redis-py pipeline of `SET`s every 10,000
  rows (timed on `--handwritten-rows` rows, it is slow).

`--grpc` also times the same move through `towpath kv serve` (gRPC) into the same
Redis (target >= 150k rows/s). Run: `python -m benchmarks.bench_move_redis [--rows N]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import services
from towpath.catalog import apply_ddl
from towpath.project import Project
from towpath.protobuf import Encoder, compile_schema, generate_schema

CHUNK = 1_000_000
MOVE = """\
data_movement:
  source:
    table: crm.profiles
  key_columns: [profile_id]
key_value_dal:
  url: "{url}"
  namespace: {namespace}
  batch_size: 50000
  audits:
    - type: sample_matches_source
      rows: 1000
protobuf:
  package: crm.profiles.v1
"""


def chunk(start: int, rows: int) -> pa.Table:
    rng = np.random.default_rng(start)
    ids = np.arange(start, start + rows, dtype=np.int64)
    return pa.table({
        "profile_id": ids,
        "email": pa.array(np.char.add(np.char.add("user", ids.astype(str)), "@example.com")),
        "age": pa.array(rng.integers(0, 100, rows).astype(np.int32)),
        "score": pa.array(rng.random(rows)),
        "active": pa.array(rng.random(rows) > 0.5),
        "country": pa.array(np.array(["NO", "SE", "DK", "US"])[rng.integers(0, 4, rows)]),
        "visits": pa.array(rng.integers(0, 1_000_000, rows)),
        "ratio": pa.array(rng.random(rows).astype(np.float32)),
    })


def build_project(folder: Path, rows: int) -> Project:
    project = Project.init(folder, name="bench")
    project.catalog.ensure_namespace("crm")
    apply_ddl(project.catalog, "CREATE TABLE crm.profiles (profile_id BIGINT, email STRING, age INT, score DOUBLE, "
                               "active BOOLEAN, country STRING, visits BIGINT, ratio FLOAT)")
    for start in range(0, rows, CHUNK):
        project.catalog.write("crm.profiles", chunk(start, min(CHUNK, rows - start)))
    return project


def towpath_move(project: Project, move_file: Path, env: dict[str, str] | None = None) -> tuple[float, float, dict]:
    """Seconds, peak RSS (MiB) and the JSON result of `towpath move run` in a new process.

    The peak is the child's own VmHWM, sampled from /proc until it exits: `wait4`'s
    `ru_maxrss` would report THIS process's peak instead (a child started by
    vfork + exec inherits the parent's high-water mark into its own).
    """
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "move", "run", str(move_file), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})},
    )
    peak = [0.0]

    def sample() -> None:
        while child.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                peak[0] = max(peak[0], peak_rss(child.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    if child.returncode:
        raise SystemExit(f"towpath move run failed: {err.decode()[-2000:]}")
    return seconds, peak[0], json.loads(out)


def peak_rss(pid: int) -> float:
    """A running process's peak RSS so far (MiB), from /proc (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmHWM for process {pid}")


def resp_file(project: Project, path: Path) -> int:
    """The same keys and values as RESP `SET` commands (what `redis-cli --pipe` reads); returns the byte size."""
    table = project.catalog.table("crm.profiles")
    schema = generate_schema(table.schema().as_arrow(), ["profile_id"], package="crm.profiles.v1")
    encoder = Encoder(schema)
    with path.open("wb") as out:
        for batch in table.scan().to_arrow_batch_reader():
            for key, value in zip(encoder.encode_keys(batch).to_pylist(), encoder.encode_values(batch).to_pylist(),
                                  strict=True):
                out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
    return path.stat().st_size


def redis_cli_pipe(port: int, path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as data:
        subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=data, check=True, capture_output=True)
    return time.perf_counter() - start


def handwritten(project: Project, port: int, rows: int) -> float:
    """rows/s of the per-row redis-py + protobuf loader a user writes by hand."""
    import redis

    table = project.catalog.table("crm.profiles")
    compiled = compile_schema(generate_schema(table.schema().as_arrow(), ["profile_id"], package="crm.profiles.v1"))
    client = redis.Redis(port=port)
    key_class, value_class = compiled.key_class, compiled.value_class
    columns = ["email", "age", "score", "active", "country", "visits", "ratio"]
    start = time.perf_counter()
    done = 0
    pipe = client.pipeline(transaction=False)
    for batch in table.scan(limit=rows).to_arrow_batch_reader():
        data = batch.to_pydict()
        for i, pid in enumerate(data["profile_id"]):
            value = value_class(**{c: data[c][i] for c in columns if data[c][i] is not None})
            pipe.set(b"hand:" + key_class(profile_id=pid).SerializeToString(), value.SerializeToString())
            done += 1
            if done % 10_000 == 0:
                pipe.execute()
        if done >= rows:
            break
    pipe.execute()
    elapsed = time.perf_counter() - start
    client.close()
    return done / elapsed


@contextlib.contextmanager
def kv_service(redis_url: str, project: Project) -> Iterator[tuple[str, int]]:
    """`towpath kv serve --engine REDIS` on free ports; yields its grpc:// URL and pid."""
    port, grpc_port = services.free_port(), services.free_port()
    env = {**os.environ, "TOWPATH_KV_TOKEN": "bench-token"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "kv", "serve", "--engine", redis_url,
         "--port", str(port), "--grpc-port", str(grpc_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    try:
        services.wait_for_port(grpc_port, timeout=60, what="towpath kv serve")
        yield f"grpc://127.0.0.1:{grpc_port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--handwritten-rows", type=int, default=500_000)
    parser.add_argument("--grpc", action="store_true", help="also move through `towpath kv serve` over gRPC")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-move-") as tmp, services.redis_server() as server:
        folder = Path(tmp)
        project = build_project(folder / "proj", args.rows)
        import redis

        client = redis.Redis(port=server.port, socket_timeout=600)
        move_file = project.root / "profiles.move.yaml"
        move_file.write_text(MOVE.format(url=server.url, namespace="profiles"))
        seconds, rss, result = towpath_move(project, move_file)
        assert result["keys"] == args.rows, result
        print(f"towpath move run: {args.rows / seconds:,.0f} rows/s, peak RSS {rss:,.0f} MiB", file=sys.stderr, flush=True)
        client.flushall(asynchronous=True)
        size = resp_file(project, folder / "load.resp")
        pipe_seconds = redis_cli_pipe(server.port, folder / "load.resp")
        assert client.dbsize() == args.rows
        client.flushall(asynchronous=True)
        hand = handwritten(project, server.port, min(args.handwritten_rows, args.rows))
        client.flushall(asynchronous=True)
        rows = [
            (f"towpath move run (new process, {args.rows:,} rows, peak RSS {rss:,.0f} MiB)", args.rows / seconds),
            (f"redis-cli --pipe, same keys/values ({size / 2**20:,.0f} MiB of RESP)", args.rows / pipe_seconds),
            (f"hand-written redis-py + protobuf per row ({min(args.handwritten_rows, args.rows):,} rows)", hand),
        ]
        if args.grpc:
            with kv_service(server.url, project) as (url, pid):
                move_file.write_text(MOVE.format(url=url, namespace="profiles_grpc"))
                grpc_seconds, grpc_rss, grpc_result = towpath_move(project, move_file, {"TOWPATH_KV_TOKEN": "bench-token"})
                service_rss = peak_rss(pid)  # the service's own process
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                writer_rss = max((peak_rss(int(c)) for c in children), default=0.0)  # its writer processes
                assert grpc_result["keys"] == args.rows, grpc_result
            label = (f"towpath move run via `towpath kv serve` gRPC (peak RSS: move {grpc_rss:,.0f} MiB, "
                     f"service {service_rss:,.0f} MiB, each writer process at most {writer_rss:,.0f} MiB)")
            rows.insert(1, (label, args.rows / grpc_seconds))
        client.close()
    limit = args.rows / pipe_seconds
    print(f"{args.rows:,} rows, Iceberg -> Redis, flat 8 columns\n")
    print("| loader | rows/s | vs redis-cli --pipe |")
    print("| --- | ---: | ---: |")
    for label, rate in rows:
        print(f"| {label} | {rate:,.0f} | {rate / limit:.2f}x |")
    print(f"\ntowpath's move: {result['seconds']:.1f}s inside the process (audits: "
          f"{', '.join(a['name'] + ' ' + a['status'] for a in result['audits'])})")


if __name__ == "__main__":
    main(sys.argv[1:])
