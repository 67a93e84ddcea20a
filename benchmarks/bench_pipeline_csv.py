"""CSV -> validate -> cast/filter -> Parquet: towpath.pipeline vs hand-written pyarrow, pandas and petl.

    python benchmarks/bench_pipeline_csv.py            # 10 million rows
    python benchmarks/bench_pipeline_csv.py --rows 2000000

The input (8 columns) is generated once, deterministically, into
`benchmarks/.data/`. Every variant runs in its own subprocess so its peak
memory (`ru_maxrss`) is its own. Every variant does the same work:

* validate: `email` and `customer` required, `amount` in [0, 10000], `email` ~ regex;
* cast `qty` to int32 and `ts` (text) to timestamp[us];
* filter `country <> 'XX'`;
* write Parquet (snappy).

petl is run on a 1M-row slice and its rows/s extrapolated (stated in the table).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).parent / ".data"
EMAIL_RE = r"^[a-z0-9._]+@[a-z0-9]+\.[a-z]+$"
PETL_ROWS = 1_000_000


def generate(rows: int) -> Path:
    """Write `rows` rows of deterministic CSV (once); ~2% invalid rows, ~1% filtered out."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = DATA / f"orders_{rows}.csv"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    tmp = path.with_suffix(".tmp")
    countries = np.array(["SG", "MY", "ID", "TH", "VN", "PH", "XX"])
    with pacsv.CSVWriter(str(tmp), pa.schema([
        ("id", pa.int64()), ("ts", pa.string()), ("customer", pa.string()), ("email", pa.string()),
        ("country", pa.string()), ("amount", pa.float64()), ("qty", pa.int64()), ("note", pa.string()),
    ])) as writer:
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            ids = np.arange(start, start + n)
            seconds = 1_704_067_200 + ids * 3
            ts = pa.array(seconds * 1_000_000, pa.timestamp("us")).cast(pa.string())
            customer = pa.array([f"c{i}" for i in (ids % 50_000)])
            customer = pa.compute.if_else(pa.array(ids % 211 == 0), pa.scalar(None, pa.string()), customer)
            email = pa.array([f"user{i}@shop.sg" for i in (ids % 100_000)])
            email = pa.compute.if_else(pa.array(ids % 97 == 0), pa.scalar("not-an-email"), email)
            amount = np.round(rng.uniform(-50, 9_990, n), 2)
            country = countries[np.where(ids % 101 == 0, 6, ids % 6)]
            qty = rng.integers(1, 20, n)
            note = np.where(ids % 3 == 0, "gift", "")
            writer.write_table(pa.table({
                "id": ids, "ts": ts, "customer": customer, "email": email, "country": country,
                "amount": amount, "qty": qty, "note": note,
            }))
    tmp.rename(path)
    return path


def slice_of(path: Path, rows: int) -> Path:
    """The first `rows` rows of `path` (for petl)."""
    out = DATA / f"{path.stem}_head{rows}.csv"
    if not out.exists():
        with open(path) as src, open(out, "w") as dst:
            for i, line in enumerate(src):
                if i > rows:
                    break
                dst.write(line)
    return out


# -- variants (each runs in its own process) -------------------------------------------------

def run_towpath(src: Path, out: Path) -> dict:
    import pyarrow.compute as pc

    from towpath.connectors.files import CsvSource, ParquetSink
    from towpath.pipeline import Cast, Filter, Pipeline, Range, Regex, Required, Validate

    errors = out.with_suffix(".errors.parquet")
    pipeline = Pipeline([
        CsvSource(str(src), types={"ts": "string", "customer": "string", "email": "string", "note": "string"}),
        Validate(Required("email", "customer"), Range("amount", min=0, max=10_000), Regex("email", EMAIL_RE),
                 error_sink=str(errors)),
        Cast({"qty": "int32", "ts": "timestamp[us]"}),
        Filter(lambda batch: pc.not_equal(batch.column("country"), "XX")),
        ParquetSink(str(out)),
    ], name="bench")
    stats = pipeline.run()
    return {"rows_in": stats.rows_read, "rows_out": stats.rows_written, "rows_error": stats.rows_error}


def run_pyarrow(src: Path, out: Path) -> dict:
    """The same work written by hand with pyarrow, streaming."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    reader = pacsv.open_csv(str(src), read_options=pacsv.ReadOptions(block_size=4 << 20),
                            convert_options=pacsv.ConvertOptions(
                                column_types={"ts": pa.string(), "customer": pa.string(), "email": pa.string(),
                                              "note": pa.string()}, strings_can_be_null=True))
    writer = err_writer = None
    rows_in = rows_out = rows_error = 0
    for batch in reader:
        rows_in += batch.num_rows
        email, customer, amount = batch.column("email"), batch.column("customer"), batch.column("amount")
        ok = pc.and_(pc.and_(pc.is_valid(email), pc.is_valid(customer)),
                     pc.and_(pc.fill_null(pc.and_(pc.greater_equal(amount, 0), pc.less_equal(amount, 10_000)), True),
                             pc.fill_null(pc.match_substring_regex(email, EMAIL_RE), True)))
        bad = batch.filter(pc.invert(ok))
        if bad.num_rows:
            rows_error += bad.num_rows
            err_writer = err_writer or pq.ParquetWriter(str(out.with_suffix(".errors.parquet")), bad.schema)
            err_writer.write_batch(bad)
        good = batch.filter(ok)
        good = good.set_column(6, "qty", pc.cast(good.column("qty"), pa.int32()))
        good = good.set_column(1, "ts", pc.cast(good.column("ts"), pa.timestamp("us")))
        good = good.filter(pc.not_equal(good.column("country"), "XX"))
        writer = writer or pq.ParquetWriter(str(out), good.schema, compression="snappy")
        writer.write_batch(good)
        rows_out += good.num_rows
    writer.close()
    if err_writer:
        err_writer.close()
    return {"rows_in": rows_in, "rows_out": rows_out, "rows_error": rows_error}


def run_pandas(src: Path, out: Path) -> dict:
    """pandas in 500k-row chunks, written with pyarrow's ParquetWriter."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    rows_in = rows_out = rows_error = 0
    for chunk in pd.read_csv(src, chunksize=500_000, dtype={"note": "string", "customer": "string"}):
        rows_in += len(chunk)
        ok = (chunk["email"].notna() & chunk["customer"].notna()
              & (chunk["amount"].isna() | chunk["amount"].between(0, 10_000))
              & chunk["email"].fillna("").str.fullmatch(EMAIL_RE[1:-1]))
        rows_error += int((~ok).sum())
        good = chunk[ok].copy()
        good["qty"] = good["qty"].astype("int32")
        good["ts"] = pd.to_datetime(good["ts"])
        good = good[good["country"] != "XX"]
        table = pa.Table.from_pandas(good, preserve_index=False)
        writer = writer or pq.ParquetWriter(str(out), table.schema, compression="snappy")
        writer.write_table(table)
        rows_out += len(good)
    writer.close()
    return {"rows_in": rows_in, "rows_out": rows_out, "rows_error": rows_error}


def run_petl(src: Path, out: Path) -> dict:
    """petl row by row (its model), written to Parquet via pyarrow at the end of each 100k rows."""
    import re

    import petl

    pattern = re.compile(EMAIL_RE)
    table = petl.fromcsv(str(src))
    rows_in = petl.nrows(table)

    def valid(r) -> bool:
        if not r["email"] or not r["customer"]:
            return False
        if r["amount"] and not 0 <= float(r["amount"]) <= 10_000:
            return False
        return bool(pattern.match(r["email"]))

    good = petl.select(table, valid)
    rows_error = rows_in - petl.nrows(good)
    good = petl.convert(good, {"qty": int, "amount": float, "id": int})
    good = petl.selectne(good, "country", "XX")
    writer = None
    rows_out = 0
    header = None
    buffer: list = []
    for row in good:
        if header is None:
            header = list(row)
            continue
        buffer.append(row)
        if len(buffer) == 100_000:
            writer, rows_out = _flush(buffer, header, writer, out, rows_out)
            buffer = []
    writer, rows_out = _flush(buffer, header, writer, out, rows_out)
    writer.close()
    return {"rows_in": rows_in, "rows_out": rows_out, "rows_error": rows_error}


def _flush(buffer, header, writer, out, rows_out):
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(zip(*buffer)) if buffer else [[] for _ in header]
    data = dict(zip(header, cols))
    data["ts"] = [dt.datetime.fromisoformat(v) for v in data["ts"]]
    data["qty"] = pa.array(data["qty"], pa.int32())
    table = pa.table(data)
    writer = writer or pq.ParquetWriter(str(out), table.schema, compression="snappy")
    writer.write_table(table)
    return writer, rows_out + len(buffer)


VARIANTS = {"towpath": run_towpath, "pyarrow": run_pyarrow, "pandas": run_pandas, "petl": run_petl}


def child(variant: str, src: Path) -> None:
    out = DATA / f"out_{variant}.parquet"
    for leftover in (out, out.with_suffix(".errors.parquet")):
        leftover.unlink(missing_ok=True)
    t0 = time.perf_counter()
    result = VARIANTS[variant](src, out)
    seconds = time.perf_counter() - t0
    result.update(seconds=seconds, max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--variants", default="towpath,pyarrow,pandas,petl")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, Path(args.src))
        return
    t0 = time.perf_counter()
    src = generate(args.rows)
    print(f"input: {src} ({src.stat().st_size / 2**20:,.0f} MiB, {args.rows:,} rows; "
          f"generated/checked in {time.perf_counter() - t0:.1f}s)", file=sys.stderr)
    results: dict[str, dict] = {}
    for variant in args.variants.split(","):
        variant_src = slice_of(src, PETL_ROWS) if variant == "petl" and args.rows > PETL_ROWS else src
        proc = subprocess.run([sys.executable, __file__, "--child", variant, "--src", str(variant_src)],
                              check=False, capture_output=True, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(f"variant {variant} failed")
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[variant]
        print(f"{variant}: {r['rows_in'] / r['seconds']:,.0f} rows/s, {r['max_rss_mib']:,.0f} MiB", file=sys.stderr)
    base = results.get("pyarrow")
    print(f"\n### CSV -> validate -> cast/filter -> Parquet, {args.rows:,} rows, {os.cpu_count()} cores\n")
    print("| variant | rows in | rows out | error rows | seconds | rows/s | vs pyarrow (time) | peak RSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for variant, r in results.items():
        rate = r["rows_in"] / r["seconds"]
        ratio = f"{(base['rows_in'] / base['seconds']) / rate:.2f}x" if base else "-"
        note = f" (on {r['rows_in']:,} rows, extrapolated)" if variant == "petl" and args.rows > PETL_ROWS else ""
        print(f"| {variant}{note} | {r['rows_in']:,} | {r['rows_out']:,} | {r['rows_error']:,} | {r['seconds']:.2f} "
              f"| {rate:,.0f} | {ratio} | {r['max_rss_mib']:,.0f} |")
    if "towpath" in results and base:
        t, b = results["towpath"], base
        assert (t["rows_out"], t["rows_error"]) == (b["rows_out"], b["rows_error"]), (t, b)


if __name__ == "__main__":
    main()
