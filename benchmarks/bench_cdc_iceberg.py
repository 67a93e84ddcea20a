"""Benchmark: CDC from PostgreSQL into Iceberg — the initial snapshot and sustained streaming.

Starts a throwaway PostgreSQL with `wal_level=logical`, loads a table of `--rows`
rows (10 million by default), then in one run:

- snapshot: `run_cdc` reading the table at the slot's exported snapshot (binary
  COPY through ADBC) into a new Iceberg table, against the raw baseline of the
  same read with nothing written (`PostgresSource` alone);
- stream: `--updates` row updates (1 million by default) over random keys, in
  transactions of 10,000 rows, written while the job runs (as fast as PostgreSQL
  takes them, or paced at `--rate` row changes/s); row changes applied per second
  from the first update until caught up, and the p99 lag (source commit to Iceberg
  commit) over the batches. "changes" counts the row changes the source emitted
  (checked against the writer's own count: none lost); "rows written" is fewer when
  a key changed twice in one batch (its last version is written once);
- decode: the same change stream read and decoded from a second slot into Arrow
  batches with nothing applied (the limit of the replication loop itself).

Prints a Markdown table. Run: `python benchmarks/bench_cdc_iceberg.py [--rows N] [--updates N]`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import psycopg

import services
from towpath.cdc import CdcResult, load_cdc_spec, run_cdc
from towpath.cdc.changes import ChangeBuffer
from towpath.cdc.postgres import PostgresCdcSource
from towpath.connectors import PostgresSource
from towpath.pipeline import ProcessorContext
from towpath.project import Project

LOAD = """
CREATE TABLE patients AS
SELECT g::bigint AS id, 'patient ' || g AS name, (g % 1000)::int AS clinic, (g * 0.01)::numeric(12, 2) AS balance,
       date '1950-01-01' + (g % 20000) AS born, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS seen
FROM generate_series(1, {rows}) AS g;
ALTER TABLE patients ADD PRIMARY KEY (id);
"""


def update_stream(conn: psycopg.Connection, rows: int, updates: int, rate: float | None,
                  chunk: int = 10_000) -> tuple[float, int]:
    """`updates` row updates of random keys, `chunk` per transaction (at most `rate` rows/s).

    Returns when the last one committed, and how many rows the updates changed
    (a key drawn twice in one transaction is one row change).
    """
    rand = random.Random(42)
    started = time.perf_counter()
    done = 0
    while done < updates:
        keys = [rand.randint(1, rows) for _ in range(min(chunk, updates - done))]
        cur = conn.execute("UPDATE patients SET balance = balance + 1, seen = now() WHERE id = ANY(%s)", (keys,))
        conn.commit()
        done += cur.rowcount
        if rate is not None:
            time.sleep(max(0.0, started + done / rate - time.perf_counter()))
    return time.perf_counter(), done


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(threads: dict[int, str]) -> dict[str, float]:
    """CPU seconds so far of this process's threads (named by `threads`: native id -> role) and of PostgreSQL's.

    This process's other threads (DuckDB's and Arrow's workers) are "apply: workers"; PostgreSQL's
    processes are grouped by role from their titles (the walsender decoding pgoutput, the backends
    running the writer's UPDATEs, and the server's own processes).
    """
    out: dict[str, float] = {}

    def ticks(stat: Path) -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK

    for task in Path("/proc/self/task").iterdir():
        role = threads.get(int(task.name), "apply: workers")
        try:
            out[role] = out.get(role, 0.0) + ticks(task / "stat")
        except OSError:
            pass  # a thread that ended meanwhile
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not title.startswith("postgres"):
                continue
            role = ("postgres: walsender (pgoutput)" if "walsender" in title else
                    "postgres: backends (the writer)" if "127.0.0.1" in title or "[local]" in title else
                    "postgres: server processes")
            out[role] = out.get(role, 0.0) + ticks(proc / "stat")
        except OSError:
            pass
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--updates", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=None,
                        help="pace the writer at this many row changes/s (default: as fast as it can)")
    parser.add_argument("--evolve", action="store_true",
                        help="add a column at the source before the stream (the target then has two schemas)")
    args = parser.parse_args(argv)
    settings = {"wal_level": "logical", "max_replication_slots": "4", "max_wal_senders": "4",
                "max_wal_size": "8GB", "shared_buffers": "512MB"}
    with services.postgres_server(settings=settings) as pg, tempfile.TemporaryDirectory() as tmp:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(LOAD.format(rows=args.rows))
            conn.execute("VACUUM ANALYZE patients")
        project = Project.init(Path(tmp) / "proj")
        spec_path = project.root / "patients.cdc.yaml"
        spec_path.write_text(
            f"name: patients\nsource: {{type: postgres, dsn: '{pg.dsn}', table: public.patients}}\n"
            f"batch: {{max_rows: {args.batch_rows}, max_seconds: 2}}\n"
            "targets: [{type: iceberg, table: lake.patients, compact_every: 20}]\n")
        spec = load_cdc_spec(spec_path)

        start = time.perf_counter()
        raw = PostgresSource(pg.dsn, table="public.patients", batch_size=256_000)
        raw.open(ProcessorContext("raw"))
        raw_rows = sum(b.num_rows for b in raw.read())
        raw.close(None)
        t_raw = time.perf_counter() - start

        start = time.perf_counter()
        first = run_cdc(spec, catalog=project.catalog, root=project.root, until_caught_up=True)
        t_snap = time.perf_counter() - start
        assert first.snapshot_rows == args.rows == raw_rows

        with psycopg.connect(pg.dsn, autocommit=True) as conn:  # the decode-only reader's own slot
            conn.execute("SELECT pg_create_logical_replication_slot('bench_decode', 'pgoutput')")
            if args.evolve:
                conn.execute("ALTER TABLE patients ADD COLUMN note text")

        load_before = os.getloadavg()[0]
        stop = threading.Event()
        results: list[CdcResult] = []
        job = threading.Thread(target=lambda: results.append(run_cdc(
            spec, catalog=project.catalog, root=project.root, stop=stop)), daemon=True)
        job.start()
        roles = {threading.main_thread().native_id or 0: "writer (psycopg client)", job.native_id or 0: "decode (job thread)"}
        with psycopg.connect(pg.dsn) as writer, psycopg.connect(pg.dsn, autocommit=True) as conn:
            cpu0 = cpu_seconds(roles)  # both connections' backends exist from here to the end of the window
            t0 = time.perf_counter()
            writes_done, emitted = update_stream(writer, args.rows, args.updates, args.rate)
            end = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
            while not conn.execute("SELECT confirmed_flush_lsn >= %s FROM pg_replication_slots WHERE slot_name = %s",
                                   (end, spec.slot)).fetchone()[0]:  # type: ignore[index]
                time.sleep(0.05)  # one job from the first update to caught up: the slot past the last commit
            t_stream = time.perf_counter() - t0
            roles.update({t.native_id or 0: "apply (cdc-apply thread)" for t in threading.enumerate()
                          if t.name == "cdc-apply"})
            cpu1 = cpu_seconds(roles)
        stop.set()
        job.join()
        streamed = results[0]
        changes, written, p99 = streamed.received, streamed.changes, streamed.lag_seconds_p99 or 0.0
        assert changes == emitted, f"the source emitted {emitted:,} row changes, the job applied {changes:,}"
        decode_spec = spec.model_copy(update={"source": spec.source.model_copy(update={"slot": "bench_decode"})})
        source = PostgresCdcSource(decode_spec)
        source.start(None)
        decoded, d0 = 0, time.perf_counter()
        while True:
            buffer = ChangeBuffer(source.schema)
            source.poll(buffer, args.batch_rows, 1.0)
            if len(buffer):
                buffer.to_batch("-")
                source.acknowledge(buffer.last_complete or buffer_end(buffer))
            decoded += len(buffer)
            if not len(buffer) and source.caught_up():
                break
        t_decode = time.perf_counter() - d0
        source.close()

        pace = f"paced at {args.rate:,.0f}/s" if args.rate else "unpaced"
        pace += ", a column added before the stream" if args.evolve else ""
        print(f"\n### CDC PostgreSQL -> Iceberg ({args.rows:,} rows, {emitted:,} row updates, writer {pace}, "
              f"finished after {writes_done - t0:.1f}s)\n")
        print("| measure | rows | seconds | rows/s | vs baseline |")
        print("| --- | ---: | ---: | ---: | ---: |")
        print(f"| raw read: PostgresSource (binary COPY), nothing written | {raw_rows:,} | {t_raw:.1f} | "
              f"{raw_rows / t_raw:,.0f} | 1.00 |")
        print(f"| initial snapshot into Iceberg (`run_cdc`) | {first.snapshot_rows:,} | {t_snap:.1f} | "
              f"{first.snapshot_rows / t_snap:,.0f} | {(first.snapshot_rows / t_snap) / (raw_rows / t_raw):.2f} |")
        print(f"| raw decode loop (pgoutput -> Arrow, no apply) | {decoded:,} | {t_decode:.1f} | "
              f"{decoded / t_decode:,.0f} | 1.00 |")
        print(f"| streaming into Iceberg, first update to caught up | {changes:,} | {t_stream:.1f} | "
              f"{changes / t_stream:,.0f} | {(changes / t_stream) / (decoded / t_decode):.2f} |")
        print(f"\n{written:,} rows written for {changes:,} changes (same-key changes in one batch collapse); "
              f"p99 lag (source commit -> Iceberg commit) over the stream's batches: {p99:.2f} s; "
              f"{streamed.batches} batches ({changes / max(streamed.batches, 1):,.0f} changes each on average)")
        used = {role: cpu1[role] - cpu0.get(role, 0.0) for role in sorted(cpu1)}
        print(f"\nCPU seconds from the first update to caught up ({t_stream:.1f} s wall, {2 * t_stream:.0f} CPU s "
              f"on 2 cores; load before the stream {load_before:.2f}):\n")
        print("| process / thread | CPU s | per 1,000 changes | share |")
        print("| --- | ---: | ---: | ---: |")
        total = sum(used.values())
        for role, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
            print(f"| {role} | {seconds:.1f} | {1000 * seconds / changes:.3f} | {seconds / total:.0%} |")
        print(f"| all | {total:.1f} | {1000 * total / changes:.3f} | 100% |")
        apply = sum(v for role, v in used.items() if role.startswith("apply"))
        print(f"\nThe apply (DuckDB's rewrite and pyiceberg's commit): {apply / max(streamed.batches, 1):.2f} CPU s per batch.")


def buffer_end(buffer: ChangeBuffer):  # type: ignore[no-untyped-def]
    from towpath.cdc import Position

    return Position(buffer.commits[-1], buffer.seqs[-1])


if __name__ == "__main__":
    main()
