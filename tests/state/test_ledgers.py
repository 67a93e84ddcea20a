"""The ledgers later capabilities fill: staged versions, KV versions and aliases, stream offsets, migrations, lineage."""

from __future__ import annotations

import pytest

from towpath.state import LineageEdge, StateError, StateStore


def test_kv_versions_are_numbered_and_an_alias_only_points_at_an_online_one(store: StateStore) -> None:
    first = store.kv.new_version("titles", run_id="r1")
    second = store.kv.new_version("titles")
    assert (first.version, second.version, first.status) == (1, 2, "started")
    with pytest.raises(StateError, match="the version is started, not online"):
        store.kv.swap_alias("titles_live", "titles", 1)
    store.kv.set_status("titles", 1, "online", rows=10, details={"keys": 10})
    assert store.kv.swap_alias("titles_live", "titles", 1).previous_version is None
    store.kv.set_status("titles", 2, "online", rows=12)
    swapped = store.kv.swap_alias("titles_live", "titles", 2)
    assert (swapped.version, swapped.previous_version) == (2, 1)
    assert [(v.version, v.rows) for v in store.kv.versions("titles")] == [(1, 10), (2, 12)]
    assert store.kv.version("titles", 1).details == {"keys": 10}
    assert store.kv.alias("nope") is None


def test_stream_offsets_commit_together_and_never_move_back(store: StateStore) -> None:
    store.offsets.commit("views", {("views", 0): 100, ("views", 1): 7}, snapshot_id=11)
    store.offsets.commit("views", {("views", 0): 150}, snapshot_id=12)
    assert [(o.partition, o.next_offset, o.snapshot_id) for o in store.offsets.of_stream("views")] == [
        (0, 150, 12), (1, 7, 11)]
    with pytest.raises(StateError, match=r"views\[0\]: offset 120 is behind the committed 150"):
        store.offsets.commit("views", {("views", 1): 9, ("views", 0): 120}, snapshot_id=13)
    assert [o.next_offset for o in store.offsets.of_stream("views")] == [150, 7]  # the whole commit was refused


def test_migrations_refuse_an_edited_applied_migration(store: StateStore) -> None:
    store.migrations.record("001_add_column", "abc", run_id="r1")
    assert [m.migration_id for m in store.migrations.applied()] == ["001_add_column"]
    with pytest.raises(StateError, match="applied with checksum abc, but its text now has def"):
        store.migrations.record("001_add_column", "def")


def test_lineage_edges_and_stagings_round_trip(store: StateStore) -> None:
    store.lineage.record([LineageEdge("db.src", "db.dst", "a", "b"), LineageEdge("db.other", "db.dst")], run_id="r9")
    assert {(e.source, e.source_column, e.run_id) for e in store.lineage.upstream("db.dst")} == {
        ("db.src", "a", "r9"), ("db.other", None, "r9")}
    store.stagings.record("iceberg-branch", "db.t", "wap_x", run_id="r9", job_id="wap", attempt=2)
    store.stagings.mark("iceberg-branch", "db.t", "wap_x", "kept", "audit failed")
    [staging] = store.stagings.of_target("iceberg-branch", "db.t").values()
    assert (staging.ref, staging.attempt, staging.status, staging.reason) == ("wap_x", 2, "kept", "audit failed")


def test_stagings_of_a_target_can_be_limited_to_the_refs_it_still_has(store: StateStore) -> None:
    for ref in ("wap_a", "wap_b", "wap_c"):
        store.stagings.record("iceberg-branch", "db.t", ref, run_id="r1", job_id="wap", attempt=1)
    assert set(store.stagings.of_target("iceberg-branch", "db.t")) == {"wap_a", "wap_b", "wap_c"}
    assert set(store.stagings.of_target("iceberg-branch", "db.t", refs=["wap_b", "gone"])) == {"wap_b"}
    assert store.stagings.of_target("iceberg-branch", "db.t", refs=[]) == {}
