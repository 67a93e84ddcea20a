"""History lists every snapshot; rollback moves main back along its own history; describe."""

from __future__ import annotations

import pytest
from catalog_data import day_rows

from towpath.catalog import (
    Catalog,
    create_branch,
    describe,
    get_hwm,
    history,
    parse_hwm,
    rollback,
    set_hwm,
    set_metadata,
)
from towpath.errors import CatalogError


def test_history_is_newest_first_and_includes_branch_only_snapshots(catalog: Catalog, results: str) -> None:
    assert history(catalog, results) == []
    first = catalog.write(results, day_rows("2024-01-01", 3))
    second = catalog.write(results, day_rows("2024-01-02", 2))
    create_branch(catalog, results, "audit")
    on_branch = catalog.write(results, day_rows("2024-01-02", 1), branch="audit")
    snaps = history(catalog, results)
    assert [s.snapshot_id for s in snaps] == [on_branch, second, first]
    assert snaps[0].refs == ["audit"] and not snaps[0].is_current
    assert snaps[1].refs == ["main"] and snaps[1].is_current and snaps[1].parent_id == first
    assert snaps[2].operation == "append" and snaps[2].summary["added-records"] == "3"
    assert snaps[1].summary["total-records"] == "5"


def test_a_partition_overwrite_is_one_overwrite_snapshot(catalog: Catalog, results: str) -> None:
    """Like Spark's INSERT OVERWRITE: the partition is never seen empty in between."""
    catalog.write(results, day_rows("2024-01-01", 3))
    catalog.write(results, day_rows("2024-01-02", 2))
    catalog.write(results, day_rows("2024-01-01", 5), "dynamic_overwrite")
    catalog.write(results, day_rows("2024-01-03", 1), "dynamic_overwrite")  # nothing to replace: an append
    snaps = history(catalog, results)
    assert [s.operation for s in snaps] == ["append", "overwrite", "append", "append"]
    assert snaps[1].summary["deleted-records"] == "3" and snaps[1].summary["added-records"] == "5"
    assert catalog.read(results).num_rows == 5 + 2 + 1


def test_daily_partition_overwrites_do_not_pile_up_manifests(catalog: Catalog, results: str) -> None:
    """A manifest listing only files an earlier overwrite deleted is not carried into later snapshots."""
    catalog.write(results, day_rows("2024-01-02", 2))
    for rows in range(1, 11):
        catalog.write(results, day_rows("2024-01-01", rows), "dynamic_overwrite")
    table = catalog.table(results)
    manifests = table.current_snapshot().manifests(table.io)
    assert len(manifests) <= 3  # the other day's, the last write's, the last overwrite's deletions
    assert all(m.has_added_files() or m.has_existing_files() or m.added_snapshot_id == table.current_snapshot().snapshot_id
               for m in manifests)
    assert catalog.read(results).num_rows == 10 + 2


def test_rollback_moves_main_to_an_ancestor(catalog: Catalog, results: str) -> None:
    first = catalog.write(results, day_rows("2024-01-01", 3))
    catalog.write(results, day_rows("2024-01-02", 4))
    assert catalog.read(results).num_rows == 7
    info = rollback(catalog, results, first).snapshot  # type: ignore[arg-type]
    assert info.snapshot_id == first and info.is_current
    assert catalog.snapshot_id(results) == first
    assert catalog.read(results).num_rows == 3
    assert len(history(catalog, results)) == 2  # the later snapshot is kept


def test_rollback_refuses_unknown_and_non_ancestor_snapshots(catalog: Catalog, results: str) -> None:
    main = catalog.write(results, day_rows("2024-01-01", 3))
    create_branch(catalog, results, "side")
    side = catalog.write(results, day_rows("2024-01-02", 1), branch="side")
    with pytest.raises(CatalogError, match=f"no snapshot 42; recent snapshots: \\[{side}, {main}\\]"):
        rollback(catalog, results, 42)
    with pytest.raises(CatalogError, match="not in main's history"):
        rollback(catalog, results, side)  # type: ignore[arg-type]
    assert catalog.snapshot_id(results) == main


def test_rollback_restores_the_mark_recorded_with_the_snapshot_unless_told_to_keep_it(catalog: Catalog, results: str) -> None:
    first = catalog.write(results, day_rows("2024-01-01", 3))
    set_hwm(catalog, results, "2024-01-01")
    second = catalog.write(results, day_rows("2024-01-02", 4))
    set_hwm(catalog, results, "2024-01-02")
    catalog.write(results, day_rows("2024-01-03", 5))
    set_hwm(catalog, results, "2024-01-03")

    done = rollback(catalog, results, second)  # type: ignore[arg-type]
    assert (done.hwm_before, done.hwm_after) == (parse_hwm("2024-01-03"), parse_hwm("2024-01-02"))
    assert get_hwm(catalog, results) == parse_hwm("2024-01-02")  # data for the 3rd is gone: so is its mark
    kept = rollback(catalog, results, first, hwm="keep")  # type: ignore[arg-type]
    assert kept.hwm_after == parse_hwm("2024-01-02") == get_hwm(catalog, results)
    assert catalog.snapshot_id(results) == first


def test_rollback_before_any_mark_removes_the_mark(catalog: Catalog, results: str) -> None:
    first = catalog.write(results, day_rows("2024-01-01", 3))
    catalog.write(results, day_rows("2024-01-02", 4))
    set_hwm(catalog, results, "2024-01-02")
    assert rollback(catalog, results, first).hwm_after is None  # type: ignore[arg-type]
    assert get_hwm(catalog, results) is None


def test_describe_collects_schema_metadata_and_state(catalog: Catalog, results: str) -> None:
    empty = describe(catalog, results)
    assert (empty.row_count, empty.data_files, empty.current_snapshot, empty.hwm) == (0, 0, None, None)
    head = catalog.write(results, day_rows("2024-01-01", 6))
    catalog.write(results, day_rows("2024-01-02", 4))
    rollback(catalog, results, head)  # type: ignore[arg-type]
    set_metadata(catalog, results, owner="team", column_types={"title_id": "pk"})
    mark = set_hwm(catalog, results, "2024-01-02").stored
    create_branch(catalog, results, "wap")
    desc = describe(catalog, results)
    assert desc.identifier == "foo.dataflow_sample_results"
    assert desc.comment and desc.comment.startswith("Example dataset")
    assert [(c.name, c.type, c.column_type) for c in desc.columns][:2] == [("title_id", "int", "pk"), ("country_code", "string", None)]
    assert desc.columns[-1].doc == "Playback date."
    assert desc.partition_spec == ["date (identity)"]
    assert desc.metadata.owner == "team"
    assert desc.current_snapshot is not None and desc.current_snapshot.snapshot_id == head
    assert desc.branches == {"main": head, "wap": head}
    assert desc.hwm == mark
    assert (desc.row_count, desc.data_files) == (6, 1)
    assert desc.location.endswith("dataflow_sample_results")


def test_expire_forgets_old_snapshots_but_keeps_heads_and_recent_history(catalog: Catalog, results: str) -> None:
    import datetime as dt

    from towpath.catalog import expire_snapshots

    for day in range(1, 6):
        catalog.write(results, day_rows(f"2024-01-0{day}", 3), "dynamic_overwrite")
    create_branch(catalog, results, "keep_me")
    before = {s.snapshot_id for s in history(catalog, results)}
    rows = catalog.read(results).num_rows

    expired = expire_snapshots(catalog, results, older_than=dt.timedelta(0), retain_last=2)

    after = {s.snapshot_id for s in history(catalog, results)}
    table = catalog.table(results)
    head = table.snapshot_by_name("main")
    assert set(expired) == before - after and len(after) == 2
    assert head.snapshot_id in after and head.parent_snapshot_id in after
    assert table.metadata.refs["keep_me"].snapshot_id in after
    assert catalog.read(results).num_rows == rows
    assert expire_snapshots(catalog, results, older_than=dt.timedelta(days=1)) == []
