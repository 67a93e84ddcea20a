"""Position commits (fencing, disjoint writers) and compaction that keeps positions."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from catalog_data import day_rows

from towpath.catalog import (
    Catalog,
    PositionConflictError,
    commit_with_position,
    compact,
    read_position,
    table_positions,
)
from towpath.errors import CatalogError

DLQ_DDL = "CREATE TABLE foo.dead (raw BINARY, error STRING) STORED AS ICEBERG"


def test_position_commit_records_and_merges(catalog: Catalog, results: str) -> None:
    first = commit_with_position(
        catalog, results, day_rows("2024-01-01", 3), source="k", expected={}, position={"t/0": 3}
    )
    assert first.position == {"t/0": 3}
    commit_with_position(catalog, results, day_rows("2024-01-01", 2), source="k", expected={}, position={"t/1": 2})
    assert read_position(catalog, results, "k") == {"t/0": 3, "t/1": 2}
    assert read_position(catalog, results, "other") == {}
    assert catalog.read(results).num_rows == 5


def test_a_writer_whose_keys_moved_is_fenced_and_commits_nothing(catalog: Catalog, results: str) -> None:
    commit_with_position(catalog, results, day_rows("2024-01-01", 3), source="k", expected={}, position={"t/0": 3})
    before = catalog.snapshot_id(results)
    with pytest.raises(PositionConflictError, match=r"t/0: expected None, table has 3.*fenced"):
        commit_with_position(catalog, results, day_rows("2024-01-01", 3), source="k", expected={}, position={"t/0": 3})
    assert catalog.snapshot_id(results) == before and catalog.read(results).num_rows == 3


def test_empty_window_moves_the_position(catalog: Catalog, results: str) -> None:
    commit_with_position(catalog, results, day_rows("2024-01-01", 0), source="k", expected={}, position={"t/0": 9})
    assert read_position(catalog, results, "k") == {"t/0": 9}
    assert catalog.read(results).num_rows == 0


def test_disjoint_writers_retry_on_top_of_each_other(catalog: Catalog, results: str) -> None:
    errors: list[BaseException] = []

    def writer(partition: int) -> None:
        try:
            done = None
            for n in range(1, 6):
                commit_with_position(
                    catalog, results, day_rows("2024-01-01", 1, start=partition * 100 + n), source="k",
                    expected={f"t/{partition}": done}, position={f"t/{partition}": n},
                )
                done = n
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert read_position(catalog, results, "k") == {"t/0": 5, "t/1": 5}
    assert sorted(catalog.read(results).column("title_id").to_pylist()) == [1, 2, 3, 4, 5, 101, 102, 103, 104, 105]


def test_dead_letters_commit_with_the_window(catalog: Catalog, results: str) -> None:
    import pyarrow as pa

    from towpath.catalog import apply_ddl

    apply_ddl(catalog, DLQ_DDL)
    bad = pa.table({"raw": pa.array([b"{"]), "error": ["bad json"]})
    commit_with_position(
        catalog, results, day_rows("2024-01-01", 2), source="k", expected={}, position={"t/0": 3}, also=[("foo.dead", bad)]
    )
    assert catalog.read("foo.dead").num_rows == 1 and catalog.read(results).num_rows == 2


def test_compaction_rewrites_small_files_and_keeps_positions(catalog: Catalog, results: str) -> None:
    done = None
    for n in range(1, 5):
        for day in ("2024-01-01", "2024-01-02"):
            catalog_rows = day_rows(day, 10, start=n * 10)
            commit_with_position(catalog, results, catalog_rows, source="k", expected={"t/0": done}, position={"t/0": n})
            done = n
    before = catalog.read(results).sort_by([("title_id", "ascending"), ("date", "ascending")])
    result = compact(catalog, results, partitions=["date=2024-01-01"], expire_older_than=dt.timedelta(0), retain_last=1)
    assert [(p.partition, p.files_before, p.files_after, p.rows) for p in result.partitions] == [
        ("date=2024-01-01", 4, 1, 40)
    ]
    assert result.expired
    table = catalog.table(results)
    assert len(table.snapshots()) == 1
    assert table_positions(table) == {"k": {"t/0": 4}}
    assert catalog.read(results).sort_by([("title_id", "ascending"), ("date", "ascending")]).equals(before)
    # a stream resumes on top of the compacted table
    commit_with_position(catalog, results, day_rows("2024-01-03", 1), source="k", expected={"t/0": 4}, position={"t/0": 5})
    assert compact(catalog, results, expire_older_than=None).files_removed == 4


def test_compaction_of_an_unknown_partition_is_refused(catalog: Catalog, results: str) -> None:
    catalog.write(results, day_rows("2024-01-01", 1))
    with pytest.raises(CatalogError, match="no partition date=2030-01-01 .*date=2024-01-01"):
        compact(catalog, results, partitions=["date=2030-01-01"])


def test_nothing_to_compact(catalog: Catalog, results: str) -> None:
    catalog.write(results, day_rows("2024-01-01", 1))
    assert compact(catalog, results).snapshot_id is None
