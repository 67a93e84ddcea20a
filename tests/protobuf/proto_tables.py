"""A table with every Iceberg type and every nesting form, shared by the protobuf tests."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pyarrow as pa

UTC = dt.UTC
GEO = pa.struct([pa.field("lat", pa.float64()), pa.field("lon", pa.float64())])
ADDRESS = pa.struct([pa.field("city", pa.string()), pa.field("geo", GEO)])

EVERY_TYPE = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    pa.field("region", pa.string(), nullable=False),
    pa.field("flag", pa.bool_()),
    pa.field("small", pa.int32()),
    pa.field("big", pa.int64()),
    pa.field("ratio", pa.float32()),
    pa.field("amount", pa.float64()),
    pa.field("price", pa.decimal128(12, 3)),
    pa.field("day", pa.date32()),
    pa.field("clock", pa.time64("us")),
    pa.field("local_ts", pa.timestamp("us")),
    pa.field("instant", pa.timestamp("us", tz="UTC")),
    pa.field("name", pa.large_string()),
    pa.field("guid", pa.uuid()),
    pa.field("blob", pa.large_binary()),
    pa.field("fixed3", pa.binary(3)),
    pa.field("required_count", pa.int64(), nullable=False),
    pa.field("address", ADDRESS),  # struct of struct
    pa.field("tags", pa.list_(pa.string())),
    pa.field("scores", pa.large_list(pa.float64())),
    pa.field("orders", pa.list_(pa.struct([pa.field("sku", pa.string()), pa.field("qty", pa.int32())]))),  # list of struct
    pa.field("homes", pa.map_(pa.string(), ADDRESS)),  # map of struct
    pa.field("matrix", pa.map_(pa.string(), pa.map_(pa.int64(), pa.float64()))),  # map of map
    pa.field("grid", pa.list_(pa.list_(pa.int64()))),  # list of list
])

ROWS = [
    {
        "id": 1, "region": "eu", "flag": True, "small": -5, "big": 2**40, "ratio": 1.5, "amount": -0.0,
        "price": Decimal("-12.500"), "day": dt.date(2020, 1, 2), "clock": dt.time(1, 2, 3, 4),
        "local_ts": dt.datetime(2020, 1, 1, 5, 6, 7, 8), "instant": dt.datetime(1960, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        "name": "héllo", "guid": uuid.UUID("12345678-9abc-def0-1234-56789abcdef0").bytes, "blob": b"\x00\x01",
        "fixed3": b"abc", "required_count": 0,
        "address": {"city": "Oslo", "geo": {"lat": 59.9, "lon": 10.7}}, "tags": ["a", ""], "scores": [0.5, -1e300],
        "orders": [{"sku": "x", "qty": 0}, {"sku": None, "qty": 2}],
        "homes": [("home", {"city": "A", "geo": None}), ("", {"city": None, "geo": {"lat": 0.0, "lon": None}})],
        "matrix": [("k", [(7, 2.0)]), ("empty", [])], "grid": [[1, 2], [], [3]],
    },
    {
        "id": 0, "region": "", "flag": None, "small": None, "big": 0, "ratio": 0.0, "amount": None, "price": None,
        "day": None, "clock": None, "local_ts": None, "instant": None, "name": None, "guid": None, "blob": None,
        "fixed3": None, "required_count": -(2**63), "address": None, "tags": [], "scores": [], "orders": [],
        "homes": [], "matrix": [], "grid": [],
    },
    {
        "id": -7, "region": "us", "flag": False, "small": 0, "big": None, "ratio": None, "amount": 0.0,
        "price": Decimal("0.000"), "day": dt.date(1900, 1, 1), "clock": dt.time(0), "local_ts": dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
        "instant": dt.datetime(1970, 1, 1, tzinfo=UTC), "name": "", "guid": uuid.UUID(int=0).bytes, "blob": b"",
        "fixed3": b"\x00\x00\x00", "required_count": 2**63 - 1, "address": {"city": None, "geo": None}, "tags": ["z"],
        "scores": [float("inf")], "orders": [{"sku": "", "qty": None}], "homes": [("h", {"city": "", "geo": None})],
        "matrix": [("m", [(-1, -0.5), (0, 0.0)])], "grid": [[]],
    },
]


def every_type() -> pa.Table:
    return pa.Table.from_pylist(ROWS, schema=EVERY_TYPE)
