"""Catalogs opened in one process share their pyiceberg catalog and parsed metadata, never stale."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest

from towpath.catalog import _manifests
from towpath.project import Project

ROWS = pa.schema([pa.field("n", pa.int64())])


def _with_table(project: Project) -> None:
    project.catalog.ensure_namespace("db")
    project.catalog.iceberg.create_table("db.t", schema=ROWS)


def test_two_projects_on_one_folder_share_a_catalog_and_see_each_others_commits(project: Project) -> None:
    _with_table(project)
    other = Project(project.root)
    assert other.catalog.iceberg is project.catalog.iceberg
    before = other.catalog.table("db.t")
    project.catalog.write("db.t", pa.table({"n": pa.array([1, 2], pa.int64())}))
    after = other.catalog.table("db.t")
    assert after.metadata_location != before.metadata_location
    assert other.catalog.read("db.t").num_rows == 2
    assert before.current_snapshot() is None  # a table handed out earlier is not changed under its holder


def test_a_catalog_file_created_again_is_a_new_catalog(project: Project) -> None:
    _with_table(project)
    project.catalog.write("db.t", pa.table({"n": pa.array([1], pa.int64())}))
    shutil.rmtree(project.root / ".towpath")
    again = Project(project.root)
    assert again.catalog.iceberg is not project.catalog.iceberg
    assert again.catalog.list_tables() == []


def test_a_commit_by_another_process_is_seen_by_the_next_load(project: Project) -> None:
    _with_table(project)
    before = project.catalog.table("db.t").metadata_location
    assert project.catalog.table("db.t").metadata_location == before  # nothing changed: the pointer is reused
    subprocess.run([sys.executable, "-c", WRITE_ONE_ROW, str(project.root)], check=True, timeout=120)
    assert project.catalog.table("db.t").metadata_location != before
    assert project.catalog.read("db.t").num_rows == 1


WRITE_ONE_ROW = """
import sys, pyarrow as pa
from towpath.project import Project
Project(sys.argv[1]).catalog.write("db.t", pa.table({"n": pa.array([7], pa.int64())}))
"""


def test_the_sqlite_catalog_journals_in_wal_mode(project: Project) -> None:
    _with_table(project)
    with project.catalog.iceberg.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_a_manifest_is_decoded_once_and_a_new_snapshot_plans_its_new_files(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_table(project)
    project.catalog.write("db.t", pa.table({"n": pa.array([1], pa.int64())}))
    _manifests.clear()
    reads: list[str] = []
    original = _manifests._read_entries

    def counted(manifest: Any, io: Any, discard_deleted: bool = True) -> Any:
        reads.append(manifest.manifest_path)
        return original(manifest, io, discard_deleted)

    monkeypatch.setattr(_manifests, "_read_entries", counted)
    table = project.catalog.table("db.t")
    first = [t.file.file_path for t in table.scan().plan_files()]
    again = [t.file.file_path for t in table.scan().plan_files()]
    assert first == again and len(first) == 1
    assert len(reads) == 1
    project.catalog.write("db.t", pa.table({"n": pa.array([2], pa.int64())}))
    assert sorted(project.catalog.read("db.t").column("n").to_pylist()) == [1, 2]
    assert len(reads) == 1  # the second snapshot's manifest went into the cache as its commit wrote it


@pytest.mark.parametrize("format_version", ["1", "2"])
def test_a_commits_own_manifests_are_cached_as_a_fresh_read_decodes_them(project: Project, format_version: str) -> None:
    """Appends, a partition replace (a manifest of deleted entries) and a full overwrite: what the cache holds
    for each new snapshot equals what decoding its files gives, field by field, sequence numbers included."""
    import datetime as dt

    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import DateType, LongType, NestedField

    schema = Schema(NestedField(1, "day", DateType(), required=False), NestedField(2, "n", LongType(), required=False))
    spec = PartitionSpec(PartitionField(source_id=1, field_id=1000, transform=IdentityTransform(), name="day"))
    project.catalog.ensure_namespace("db")
    project.catalog.iceberg.create_table("db.p", schema=schema, partition_spec=spec,
                                         properties={"format-version": format_version})

    def rows(*days: int) -> pa.Table:
        return pa.table({"day": pa.array([dt.date(2022, 1, d) for d in days], pa.date32()),
                         "n": pa.array(list(days), pa.int64())})

    writes = [(rows(1, 2), "append"), (rows(2, 3), "dynamic_overwrite"), (rows(4), "append"), (rows(5), "overwrite")]
    for data, mode in writes:
        project.catalog.write("db.p", data, mode)
        table = project.catalog.table("db.p")
        snapshot = table.current_snapshot()
        assert snapshot is not None and snapshot.manifest_list is not None
        cached = snapshot.manifests(table.io)
        assert cached == _manifests._read_list(snapshot, table.io)
        for manifest in cached:
            for discard_deleted in (True, False):
                assert manifest.fetch_manifest_entry(table.io, discard_deleted) == _manifests._read_entries(
                    manifest, table.io, discard_deleted
                ), (mode, manifest.manifest_path, discard_deleted)
    assert sorted(project.catalog.read("db.p").column("n").to_pylist()) == [5]


def test_a_commits_avro_headers_are_pyicebergs_with_their_schemas_kept(project: Project) -> None:
    """The second commit's manifest and manifest list reuse the first's schema JSON; both read as pyiceberg's."""
    import json

    from pyiceberg.avro.file import AvroFile
    from pyiceberg.utils.schema_conversion import AvroSchemaConversion

    _with_table(project)
    headers = []
    for n in range(2):
        project.catalog.write("db.t", pa.table({"n": pa.array([n], pa.int64())}))
        table = project.catalog.table("db.t")
        snapshot = table.current_snapshot()
        assert snapshot is not None and snapshot.manifest_list is not None
        newest = max(snapshot.manifests(table.io), key=lambda m: m.sequence_number)
        for path, name in ((snapshot.manifest_list, "manifest_file"), (newest.manifest_path, "manifest_entry")):
            with AvroFile[Any](table.io.new_input(path)) as read:
                meta = read.header.meta
                assert json.loads(meta["avro.schema"]) == AvroSchemaConversion().iceberg_to_avro(read.schema, name)
                headers.append((name, meta["avro.schema"], meta["avro.codec"], meta.get("format-version")))
    assert headers[:2] == headers[2:]
    assert {codec for _, _, codec, _ in headers} == {"deflate"} and headers[0][3] == "2"


def test_staged_metadata_is_pyicebergs_without_copying_the_history(project: Project) -> None:
    from pyiceberg.table.update import update_table_metadata

    from towpath.catalog._loaded import apply_updates

    _with_table(project)
    for n in range(3):
        project.catalog.write("db.t", pa.table({"n": pa.array([n], pa.int64())}))
    table = project.catalog.table("db.t")
    snapshots = list(table.metadata.snapshots)
    txn = table.transaction()
    txn.set_properties(owner="ops")
    with txn.update_snapshot().fast_append() as append:
        append.append_data_file(next(iter(table.scan().plan_files())).file)
    ours = apply_updates(table.metadata, txn._updates, table.metadata_location)
    theirs = update_table_metadata(table.metadata, txn._updates, metadata_location=table.metadata_location)
    assert ours.model_dump(exclude={"last_updated_ms"}) == theirs.model_dump(exclude={"last_updated_ms"})
    assert ours.snapshots[:3] == snapshots and ours.snapshots[0] is snapshots[0]  # shared, not deep-copied
    assert table.metadata.snapshots == snapshots and len(ours.snapshots) == 4  # the base is untouched
    assert ours.properties["owner"] == "ops" and "owner" not in table.metadata.properties


def test_arrow_allocates_from_jemalloc_unless_the_user_chose_a_pool() -> None:
    probe = "import towpath.catalog, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    chosen = subprocess.run([sys.executable, "-c", probe], env={**env, "ARROW_DEFAULT_MEMORY_POOL": "system"},
                            capture_output=True, text=True, check=True, timeout=120)
    default = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True,
                             timeout=120)
    assert (default.stdout.strip(), chosen.stdout.strip()) == ("jemalloc", "system")


def test_pyicebergs_pool_runs_a_one_item_map_inline_and_more_on_its_threads() -> None:
    import threading

    from pyiceberg.utils.concurrent import ExecutorFactory

    def where(_: object) -> str:
        return threading.current_thread().name

    pool = ExecutorFactory.get_or_create()
    assert list(pool.map(where, [1])) == [threading.current_thread().name]  # the daily write, a one-manifest plan
    assert threading.current_thread().name not in set(pool.map(where, range(8)))
    assert list(pool.map(lambda n: n * 2, iter(range(5)))) == [0, 2, 4, 6, 8]  # order kept, iterators consumed


def test_submits_run_on_the_calling_thread_only_inside_on_this_thread() -> None:
    import threading

    from pyiceberg.utils.concurrent import ExecutorFactory

    from towpath.catalog._threads import on_this_thread

    pool, here = ExecutorFactory.get_or_create(), threading.current_thread().name
    assert pool.submit(lambda: threading.current_thread().name).result() != here
    with on_this_thread():
        assert pool.submit(lambda: threading.current_thread().name).result() == here
        elsewhere = threading.Thread(target=lambda: seen.append(pool.submit(threading.current_thread).result()))
        seen: list[threading.Thread] = []
        elsewhere.start()
        elsewhere.join()
        assert seen[0] is not elsewhere  # another thread still hands its work to the pool
        failed = pool.submit(int, "x")
    assert pool.submit(lambda: threading.current_thread().name).result() != here
    with pytest.raises(ValueError, match="invalid literal"):
        failed.result()  # an error travels in the future, as from a pool thread


def test_a_local_tables_commit_writes_its_manifests_on_the_committing_thread(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from pyiceberg.table.update.snapshot import _SnapshotProducer

    _with_table(project)
    writers: list[str] = []
    real = _SnapshotProducer.new_manifest_writer

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        writers.append(threading.current_thread().name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_SnapshotProducer, "new_manifest_writer", spy)
    project.catalog.write("db.t", pa.table({"n": [1, 2]}, schema=ROWS), "append")
    project.catalog.write("db.t", pa.table({"n": [3]}, schema=ROWS), "overwrite")
    assert writers and set(writers) == {threading.current_thread().name}
    assert project.catalog.read("db.t").column("n").to_pylist() == [3]


def test_a_local_tables_scan_plan_reads_its_manifests_on_the_planning_thread(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import pyiceberg.table

    _with_table(project)
    project.catalog.write("db.t", pa.table({"n": [1]}, schema=ROWS), "append")
    project.catalog.write("db.t", pa.table({"n": [2]}, schema=ROWS), "append")  # two manifests: a pool `map`
    readers: list[str] = []
    real = pyiceberg.table._open_manifest

    def spy(*args: Any, **kwargs: Any) -> Any:
        readers.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(pyiceberg.table, "_open_manifest", spy)
    plan = project.catalog.plan_scan("db.t")
    assert len(plan.files) == 2
    assert readers == [threading.current_thread().name] * 2


def test_a_forked_child_gets_its_own_pool() -> None:
    probe = (
        "import os, towpath.catalog\n"
        "from pyiceberg.utils.concurrent import ExecutorFactory\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    pool = ExecutorFactory.get_or_create()\n"
        "    os._exit(0 if type(pool).__name__ == '_InlineSingles' and list(pool.map(abs, [-1, -2])) == [1, 2] else 1)\n"
        "print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip() == "0"


def test_a_commit_applies_to_the_current_version_unless_a_requirement_fails(project: Project) -> None:
    """`commit_table` stages on the table as it is now (pyiceberg's semantics), whatever version the caller holds."""
    from pyiceberg.exceptions import CommitFailedException
    from pyiceberg.table.update import AssertRefSnapshotId, SetPropertiesUpdate

    _with_table(project)
    project.catalog.write("db.t", pa.table({"n": pa.array([1], pa.int64())}))
    stale = project.catalog.table("db.t")
    first = stale.current_snapshot()
    project.catalog.write("db.t", pa.table({"n": pa.array([2], pa.int64())}))
    with stale.transaction() as txn:
        txn.set_properties(owner="ana")
    table = project.catalog.table("db.t")
    assert table.properties["owner"] == "ana"
    assert sorted(project.catalog.read("db.t").column("n").to_pylist()) == [1, 2]  # the other write is kept
    with pytest.raises(CommitFailedException):
        project.catalog.iceberg.commit_table(
            table,
            (AssertRefSnapshotId(ref="main", snapshot_id=first.snapshot_id),),  # type: ignore[call-arg]
            (SetPropertiesUpdate(updates={"owner": "bo"}),),
        )
    assert project.catalog.table("db.t").properties["owner"] == "ana"


def test_manifest_writers_are_built_once_per_partition_type(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    _with_table(project)
    project.catalog.write("db.t", pa.table({"n": pa.array([1], pa.int64())}))  # builds this table's writers
    built: list[object] = []
    original = _manifests._pyiceberg_resolve_writer

    def counted(**schemas: Any) -> Any:
        built.append(schemas)
        return original(**schemas)

    monkeypatch.setattr(_manifests, "_pyiceberg_resolve_writer", counted)
    project.catalog.write("db.t", pa.table({"n": pa.array([2], pa.int64())}))
    project.catalog.write("db.t", pa.table({"n": pa.array([3], pa.int64())}), "overwrite")
    assert built == []  # the manifests and manifest lists of both commits reused the writer trees
    assert sorted(project.catalog.read("db.t").column("n").to_pylist()) == [3]


def test_a_manifest_past_the_bound_is_not_kept_as_written(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest with more entries than `_KEPT_PER_MANIFEST` (a large table's rewrite) is decoded when read."""
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import LongType, NestedField

    schema = Schema(NestedField(1, "n", LongType(), required=False))
    spec = PartitionSpec(PartitionField(source_id=1, field_id=1000, transform=IdentityTransform(), name="n"))
    project.catalog.ensure_namespace("db")
    project.catalog.iceberg.create_table("db.p", schema=schema, partition_spec=spec)
    monkeypatch.setattr(_manifests, "_KEPT_PER_MANIFEST", 2)
    project.catalog.write("db.p", pa.table({"n": pa.array([1], pa.int64())}))  # one file: kept
    project.catalog.write("db.p", pa.table({"n": pa.array([2, 3, 4], pa.int64())}))  # three files: not kept
    table = project.catalog.table("db.p")
    snapshot = table.current_snapshot()
    assert snapshot is not None
    kept = {m.manifest_path: (m.manifest_path, True) in _manifests._entries for m in snapshot.manifests(table.io)}
    assert sorted(kept.values()) == [False, True]
    assert sorted(project.catalog.read("db.p").column("n").to_pylist()) == [1, 2, 3, 4]
