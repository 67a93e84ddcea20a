"""`engine: spark`: the executors encode and write, one batch writer per partition (local Spark)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from move_helpers import move, move_file, profiles_project, store

from towpath.project import Project


def test_spark_executors_write_the_version(project: Project, spark: Any, redis_server: Any) -> None:
    rows = 5000
    profiles_project(project, pa.table({
        "profile_id": pa.array(np.arange(rows), pa.int64()),
        "email": pa.array([f"u{i}@x" for i in range(rows)]),
        "age": pa.array(np.arange(rows) % 90, pa.int32()),
        "country": pa.array(np.where(np.arange(rows) % 2 == 0, "NO", "SE")),
    }))
    url = f"{redis_server.url}?prefix=spark"
    body = ("data_movement:\n  source:\n    table: crm.profiles\n    filter: \"country = 'NO'\"\n"
            "  key_columns: [profile_id]\n  value_columns: [email, age]\n  engine: spark\n")
    result = move(project, move_file(project, url, body, batch_size=700))
    assert result.status == "published" and result.keys == 2500
    assert [a.status for a in result.audits] == ["passed", "passed", "passed"], result.audits
    kv = store(url, project)
    try:
        assert kv.count("profiles") == 2500 and kv.alias("profiles") == result.namespace
    finally:
        kv.close()
