"""The Iceberg target's copy-on-write by DuckDB, on its own: which files a batch rewrites, partitions, evolved
schemas, and a warehouse on S3 (read and written through the table's file IO)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from cdc_case import change_batch
from pyiceberg.types import StringType

from towpath.cdc import Position
from towpath.cdc.changes import DELETE, INSERT, UPDATE
from towpath.cdc.spec import IcebergTargetSpec
from towpath.cdc.to_iceberg import IcebergTarget
from towpath.project import Project

SCHEMA = pa.schema([pa.field("id", pa.int64(), False), pa.field("city", pa.string()),
                    pa.field("seen", pa.timestamp("us", "UTC"))])


def loaded(project: Project, rows: int, **spec: Any) -> IcebergTarget:
    target = IcebergTarget(project.catalog, IcebergTargetSpec(type="iceberg", table="lake.people", compact_every=0,
                                                              **spec))
    load = target.begin_snapshot(SCHEMA, ["id"])
    load.add(pa.record_batch([pa.array(range(1, rows + 1), pa.int64()), pa.array([f"c{i % 3}" for i in range(rows)]),
                              pa.array([1_700_000_000_000_000 + i for i in range(rows)], pa.timestamp("us", "UTC"))],
                             schema=SCHEMA))
    load.commit(Position(10), "lsn 10")
    return target


def rows(project: Project) -> dict[int, dict[str, Any]]:
    table = Project(project.root).catalog.read("lake.people")
    return {r["id"]: r for r in table.to_pylist()}


def files(project: Project) -> set[str]:
    return {t.file.file_path for t in Project(project.root).catalog.table("lake.people").scan().plan_files()}


def test_a_batch_rewrites_only_the_files_whose_key_range_holds_a_changed_key(tmp_path: Path) -> None:
    project = Project.init(tmp_path / "p")
    target = loaded(project, 100)
    snapshot_files = files(project)
    target.apply(change_batch(SCHEMA, 20, *((INSERT, [str(i), "new", None]) for i in range(1000, 1100))), ["id"])
    inserted = files(project) - snapshot_files
    assert files(project) >= snapshot_files and len(inserted) == 1  # ids 1000-1099 fall in no file's range
    target.apply(change_batch(SCHEMA, 30, (UPDATE, ["5", "moved", None]), (DELETE, ["7", None, None])), ["id"])
    assert inserted <= files(project) and not snapshot_files & files(project)  # only the snapshot's file rewritten
    got = rows(project)
    assert len(got) == 199 and 7 not in got and got[5]["city"] == "moved" and got[1050]["city"] == "new"
    assert got[6]["city"] == "c2" and got[6]["seen"] is not None  # carried over as it was
    assert target.position() == Position(30, 1) and target.rows_rewritten == 100
    target.close()


def test_partitioned_target_a_row_moving_partition_and_an_added_column(tmp_path: Path) -> None:
    project = Project.init(tmp_path / "p")
    target = loaded(project, 30, partition_by=["city"])
    target.apply(change_batch(SCHEMA, 20, (UPDATE, ["1", "c2", None]), (UPDATE, ["2", "c9", None]),
                       (INSERT, ["31", "c0", None])), ["id"])
    got = rows(project)
    assert len(got) == 31 and got[1]["city"] == "c2" and got[2]["city"] == "c9" and got[31]["city"] == "c0"
    table = Project(project.root).catalog.table("lake.people")
    counts = [(t.file.partition[0], t.file.record_count) for t in table.scan().plan_files()]
    # c0 and c1 rewritten (ids 1 and 2 left them, 31 joined c0); c2's file (ids 3-30) untouched, id 1 beside it
    assert sorted(counts) == [("c0", 10), ("c1", 9), ("c2", 1), ("c2", 10), ("c9", 1)]
    wider = pa.schema([*SCHEMA, pa.field("score", pa.float64())])
    target.evolve(wider)
    target.apply(change_batch(wider, 30, (UPDATE, ["3", "c2", None, "1.5"]), (DELETE, ["4", None, None, None])), ["id"])
    got = rows(project)
    assert len(got) == 30 and got[3]["score"] == 1.5 and got[5]["score"] is None and 4 not in got
    target.close()


def test_on_an_s3_warehouse_the_rewrite_reads_and_writes_through_the_file_io(tmp_path: Path, s3_server: str) -> None:
    import boto3

    bucket = f"cdc-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    root = tmp_path / "p"
    root.mkdir()
    (root / "towpath.yaml").write_text(f"name: s3\nwarehouse: s3://{bucket}/wh\ncatalog:\n  type: sql\n  properties:\n"
                                       f"    s3.endpoint: {s3_server}\n    s3.region: us-east-1\n"
                                       "    s3.access-key-id: testing\n    s3.secret-access-key: testing\n")
    project = Project(root)
    target = loaded(project, 50)
    target.apply(change_batch(SCHEMA, 20, (UPDATE, ["1", "x", None]), (DELETE, ["2", None, None]),
                       (INSERT, ["51", "y", None])), ["id"])
    got = rows(project)
    assert len(got) == 50 and got[1]["city"] == "x" and 2 not in got and got[51]["city"] == "y"
    assert all(f.startswith(f"s3://{bucket}/") for f in files(project))
    target.close()


@pytest.mark.parametrize("codec", ["snappy", "uncompressed"])
def test_the_tables_codec_is_used(tmp_path: Path, codec: str) -> None:
    import pyarrow.parquet as pq

    project = Project.init(tmp_path / "p")
    target = loaded(project, 10)
    with project.catalog.table("lake.people").transaction() as tx:
        tx.set_properties({"write.parquet.compression-codec": codec})
    target.apply(change_batch(SCHEMA, 20, (UPDATE, ["1", "x", None])), ["id"])
    [path] = files(project)
    meta = pq.read_metadata(path.removeprefix("file://"))
    assert meta.row_group(0).column(0).compression == codec.upper()
    assert meta.schema.to_arrow_schema().field("city").metadata[b"PARQUET:field_id"] == b"2"
    target.close()


def dictionary_columns(project: Project) -> set[str]:
    """Columns with a dictionary page in every row group of every current file."""
    import pyarrow.parquet as pq

    found: set[str] | None = None
    for path in files(project):
        meta = pq.read_metadata(path.removeprefix("file://"))
        for group in range(meta.num_row_groups):
            chunks = [meta.row_group(group).column(i) for i in range(meta.num_columns)]
            have = {c.path_in_schema for c in chunks if c.has_dictionary_page}
            found = have if found is None else found & have
    return found or set()


def test_dictionaries_are_skipped_when_a_column_is_nearly_unique_and_kept_when_they_pay(tmp_path: Path) -> None:
    project = Project.init(tmp_path / "p")
    target = loaded(project, 3000)
    target.apply(change_batch(SCHEMA, 20, *((UPDATE, [str(i), f"c{i % 3}", None]) for i in range(1, 2001))), ["id"])
    assert "city" in dictionary_columns(project)  # three cities: DuckDB's dictionary kept
    target.apply(change_batch(SCHEMA, 30, *((UPDATE, [str(i), f"street {i}", None]) for i in range(1, 2001))), ["id"])
    assert dictionary_columns(project) == set()  # a unique column: no dictionary attempts at all
    got = rows(project)
    assert len(got) == 3000 and got[7]["city"] == "street 7" and got[2500]["city"] == "c0"
    target.close()


def test_the_dictionary_property_overrides_the_data_and_a_bad_value_changes_nothing(tmp_path: Path) -> None:
    from towpath.cdc import CdcError
    from towpath.cdc.rewrite import DICTIONARY_PROPERTY

    project = Project.init(tmp_path / "p")
    target = loaded(project, 3000)
    with project.catalog.table("lake.people").transaction() as tx:
        tx.set_properties({DICTIONARY_PROPERTY: "false"})
    target.apply(change_batch(SCHEMA, 20, *((UPDATE, [str(i), f"c{i % 3}", None]) for i in range(1, 2001))), ["id"])
    assert dictionary_columns(project) == set()
    with project.catalog.table("lake.people").transaction() as tx:
        tx.set_properties({DICTIONARY_PROPERTY: "sometimes"})
    before = files(project)
    with pytest.raises(CdcError, match=r"towpath.cdc.parquet-dictionary='sometimes': expected auto, true or false"):
        target.apply(change_batch(SCHEMA, 30, (UPDATE, ["1", "x", None])), ["id"])
    assert files(project) == before and target.position() == Position(20, 1999)
    assert len(list((tmp_path / "p").rglob("*.parquet"))) == len(before) + 1  # the snapshot's file, kept for history
    target.close()


RENAMED = pa.schema([pa.field("id", pa.int64(), False), pa.field("town", pa.string()),
                     pa.field("seen", pa.timestamp("us", "UTC"))])


def test_after_a_rename_old_files_are_read_by_field_id_and_rewritten_ones_by_name(tmp_path: Path) -> None:
    project = Project.init(tmp_path / "p")
    target = loaded(project, 100)
    target.apply(change_batch(SCHEMA, 20, *((INSERT, [str(i), "new", None]) for i in range(1000, 1100))), ["id"])
    with project.catalog.table("lake.people").update_schema() as update:
        update.rename_column("city", "town")
    old = files(project)
    target.apply(change_batch(RENAMED, 30, (UPDATE, ["5", "moved", None])), ["id"])  # rewrites ids 1-100 only
    assert len(old - files(project)) == 1
    # one file written since the rename (by name), one from before it (by field id), in one batch
    target.apply(change_batch(RENAMED, 40, (UPDATE, ["6", "also", None]), (DELETE, ["1050", None, None])), ["id"])
    assert not old & files(project)
    got = rows(project)
    assert len(got) == 199 and set(got[1]) == {"id", "town", "seen"}
    assert (got[5]["town"], got[6]["town"], got[7]["town"], got[1051]["town"]) == ("moved", "also", "c0", "new")
    target.close()


def test_a_dropped_and_re_added_column_reads_null_from_the_files_before_it(tmp_path: Path) -> None:
    project = Project.init(tmp_path / "p")
    target = loaded(project, 100)
    with project.catalog.table("lake.people").update_schema() as update:
        update.delete_column("city")
    with project.catalog.table("lake.people").update_schema() as update:
        update.add_column("city", StringType())
    target.apply(change_batch(SCHEMA, 20, (UPDATE, ["5", "back", None])), ["id"])
    target.apply(change_batch(SCHEMA, 30, (UPDATE, ["6", "again", None])), ["id"])  # now the rewritten file, by name
    got = rows(project)
    assert len(got) == 100 and got[5]["city"] == "back" and got[6]["city"] == "again"
    assert got[7]["city"] is None and got[7]["seen"] is not None  # the old `city` (another field id) is gone
    target.close()
