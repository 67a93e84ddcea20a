"""A staged WAP branch: reserved at main's head without a commit, cut by its first write in that write's commit."""

from __future__ import annotations

import pytest
from catalog_data import day_rows
from pyiceberg.exceptions import CommitFailedException

from towpath.catalog import (
    Catalog,
    cut_reserved_branch,
    drop_branch,
    list_branches,
    publish_branch,
    stage_branch,
)
from towpath.catalog._loaded import LoadingSqlCatalog
from towpath.errors import CatalogError, ConflictError


def commits(catalog: Catalog, table: str) -> int:
    """How many metadata files the table went through (every commit writes one)."""
    loaded = catalog.table(table)
    return len(loaded.metadata.metadata_log)


def test_the_first_write_cuts_a_staged_branch_in_its_own_commit(catalog: Catalog, results: str) -> None:
    base = catalog.write(results, day_rows("2024-01-01", 10))
    assert stage_branch(catalog, results, "wap_1") == base
    assert list_branches(catalog, results) == {"main": base}  # nothing committed yet
    assert catalog.read(results, ref="wap_1").num_rows == 10  # reads see where it was staged
    assert catalog.snapshot_id(results, "wap_1") == base
    before = commits(catalog, results)

    head = catalog.write(results, day_rows("2024-01-02", 5), "dynamic_overwrite", branch="wap_1")

    assert commits(catalog, results) == before + 1  # the cut and the write: one commit
    table = catalog.table(results)
    assert table.snapshot_by_name("wap_1").snapshot_id == head
    assert table.snapshot_by_id(head).parent_snapshot_id == base
    assert catalog.read(results, ref="wap_1").num_rows == 15
    assert catalog.read(results).num_rows == 10
    assert publish_branch(catalog, results, "wap_1") == head
    assert catalog.read(results).num_rows == 15
    assert list_branches(catalog, results) == {"main": head}


def test_a_staged_branch_is_cut_where_it_was_staged_even_after_main_moved(catalog: Catalog, results: str) -> None:
    base = catalog.write(results, day_rows("2024-01-01", 10))
    stage_branch(catalog, results, "wap_late")
    moved = catalog.write(results, day_rows("2024-01-03", 2))  # another writer publishes in between

    head = catalog.write(results, day_rows("2024-01-02", 5), "dynamic_overwrite", branch="wap_late")

    table = catalog.table(results)
    assert head is not None and table.snapshot_by_id(head).parent_snapshot_id == base
    assert catalog.read(results, ref="wap_late").num_rows == 15  # not the other writer's 2 rows
    with pytest.raises(ConflictError, match=f"main moved to snapshot {moved}"):
        publish_branch(catalog, results, "wap_late")
    assert catalog.read(results).num_rows == 12


def test_a_staged_branch_nobody_wrote_publishes_and_drops_without_a_commit(catalog: Catalog, results: str) -> None:
    base = catalog.write(results, day_rows("2024-01-01", 3))
    stage_branch(catalog, results, "wap_idle")
    before = commits(catalog, results)

    assert publish_branch(catalog, results, "wap_idle") == base
    stage_branch(catalog, results, "wap_dropped")
    drop_branch(catalog, results, "wap_dropped")

    assert commits(catalog, results) == before
    assert list_branches(catalog, results) == {"main": base}
    for forgotten in ("wap_idle", "wap_dropped"):
        with pytest.raises(CatalogError, match=f"no branch or tag '{forgotten}'"):
            catalog.plan_scan(results, ref=forgotten)


def test_an_unwritten_staged_branch_refuses_to_publish_once_main_moved(catalog: Catalog, results: str) -> None:
    """Its audits read the staged snapshot: publishing nothing over a newer main would pass them off as current."""
    catalog.write(results, day_rows("2024-01-01", 3))
    stage_branch(catalog, results, "wap_stale")
    catalog.write(results, day_rows("2024-01-02", 1))
    with pytest.raises(ConflictError, match="main moved"):
        publish_branch(catalog, results, "wap_stale")


def test_a_kept_staged_branch_is_cut_for_inspection(catalog: Catalog, results: str) -> None:
    base = catalog.write(results, day_rows("2024-01-01", 3))
    stage_branch(catalog, results, "wap_kept")
    catalog.write(results, day_rows("2024-01-02", 1))

    cut_reserved_branch(catalog, results, "wap_kept")

    assert list_branches(catalog, results)["wap_kept"] == base
    assert Catalog(catalog.iceberg).read(results, ref="wap_kept").num_rows == 3  # any catalog sees it now


def test_staging_an_existing_branch_or_main_is_refused(catalog: Catalog, results: str) -> None:
    catalog.write(results, day_rows("2024-01-01", 1))
    catalog.write(results, day_rows("2024-01-02", 1), branch="taken")
    with pytest.raises(CatalogError, match="already has a branch 'taken'"):
        stage_branch(catalog, results, "taken")
    with pytest.raises(CatalogError, match="not a valid WAP branch name"):
        stage_branch(catalog, results, "main")


def test_a_lost_commit_race_redoes_the_cut_with_the_write(
    catalog: Catalog, results: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyiceberg's own retry would drop the cut and stage the write as a parentless branch of the new rows only."""
    base = catalog.write(results, day_rows("2024-01-01", 10))
    stage_branch(catalog, results, "wap_race")
    commit_table = LoadingSqlCatalog.commit_table
    lost: list[str] = []

    def lose_the_first(self, table, requirements, updates):  # type: ignore[no-untyped-def]
        if not lost:
            lost.append(table.name())
            raise CommitFailedException("Table has been updated by another process")
        return commit_table(self, table, requirements, updates)

    monkeypatch.setattr(LoadingSqlCatalog, "commit_table", lose_the_first)
    head = catalog.write(results, day_rows("2024-01-02", 5), "dynamic_overwrite", branch="wap_race")

    assert lost
    table = catalog.table(results)
    assert head is not None and table.snapshot_by_id(head).parent_snapshot_id == base
    assert catalog.read(results, ref="wap_race").num_rows == 15
