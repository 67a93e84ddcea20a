"""Write-Audit-Publish branches: invisible until published; publish only fast-forwards main."""

from __future__ import annotations

import pytest
from catalog_data import RacingCatalog, day_rows

from towpath.catalog import Catalog, create_branch, drop_branch, is_ancestor, list_branches, publish_branch
from towpath.errors import CatalogError, ConflictError


def test_branch_write_is_invisible_on_main_until_published(catalog: Catalog, results: str) -> None:
    base = catalog.write(results, day_rows("2024-01-01", 10))
    assert create_branch(catalog, results, "wap_1") == base
    head = catalog.write(results, day_rows("2024-01-02", 5), "dynamic_overwrite", branch="wap_1")
    assert catalog.read(results).num_rows == 10
    assert catalog.read(results, ref="wap_1").num_rows == 15
    assert catalog.snapshot_id(results) == base

    assert publish_branch(catalog, results, "wap_1") == head
    assert catalog.snapshot_id(results) == head
    assert catalog.read(results).num_rows == 15
    assert list_branches(catalog, results) == {"main": head}


def test_publish_refuses_when_main_moved_and_keeps_everything(catalog: Catalog, results: str) -> None:
    catalog.write(results, day_rows("2024-01-01", 10))
    create_branch(catalog, results, "wap_a")
    create_branch(catalog, results, "wap_b")
    catalog.write(results, day_rows("2024-01-02", 3), "dynamic_overwrite", branch="wap_a")
    b_head = catalog.write(results, day_rows("2024-01-03", 4), "dynamic_overwrite", branch="wap_b")
    a_published = publish_branch(catalog, results, "wap_a")

    with pytest.raises(ConflictError) as err:
        publish_branch(catalog, results, "wap_b")
    message = str(err.value)
    assert "dataflow_sample_results" in message and "wap_b" in message and str(a_published) in message
    assert catalog.snapshot_id(results) == a_published
    assert catalog.read(results).num_rows == 13  # wap_a's rows were not lost
    assert list_branches(catalog, results)["wap_b"] == b_head
    assert catalog.read(results, ref="wap_b").num_rows == 14


def test_publish_without_drop_keeps_the_branch(catalog: Catalog, results: str) -> None:
    catalog.write(results, day_rows("2024-01-01", 2))
    create_branch(catalog, results, "keep")
    head = catalog.write(results, day_rows("2024-01-02", 2), branch="keep")
    publish_branch(catalog, results, "keep", drop=False)
    assert list_branches(catalog, results) == {"keep": head, "main": head}


def test_wap_on_an_empty_table(catalog: Catalog, results: str) -> None:
    assert create_branch(catalog, results, "first") is None
    head = catalog.write(results, day_rows("2024-01-01", 7), "dynamic_overwrite", branch="first")
    assert head is not None
    assert catalog.snapshot_id(results) is None
    assert catalog.read(results).num_rows == 0
    assert catalog.read(results, ref="first").num_rows == 7
    second = catalog.write(results, day_rows("2024-01-02", 1), "dynamic_overwrite", branch="first")
    assert catalog.read(results, ref="first").num_rows == 8

    assert publish_branch(catalog, results, "first") == second
    assert catalog.snapshot_id(results) == second
    assert catalog.read(results).num_rows == 8
    assert "first" not in list_branches(catalog, results)


def test_two_wap_runs_on_an_empty_table_second_publish_conflicts(catalog: Catalog, results: str) -> None:
    catalog.write(results, day_rows("2024-01-01", 2), branch="run_a")
    catalog.write(results, day_rows("2024-01-02", 3), branch="run_b")
    publish_branch(catalog, results, "run_a")
    with pytest.raises(ConflictError):
        publish_branch(catalog, results, "run_b")
    assert catalog.read(results).num_rows == 2


def test_writing_to_a_new_branch_starts_from_main(catalog: Catalog, results: str) -> None:
    catalog.write(results, day_rows("2024-01-01", 10))
    catalog.write(results, day_rows("2024-01-02", 1), branch="implicit")
    table = catalog.table(results)
    assert is_ancestor(table, catalog.snapshot_id(results), catalog.snapshot_id(results, "implicit"))
    assert catalog.read(results, ref="implicit").num_rows == 11


def test_drop_branch_and_bad_names(catalog: Catalog, results: str) -> None:
    catalog.write(results, day_rows("2024-01-01", 1))
    create_branch(catalog, results, "tmp")
    with pytest.raises(CatalogError, match="already has a branch 'tmp'"):
        create_branch(catalog, results, "tmp")
    drop_branch(catalog, results, "tmp")
    assert list(list_branches(catalog, results)) == ["main"]
    with pytest.raises(CatalogError, match="has no branch 'tmp'"):
        drop_branch(catalog, results, "tmp")
    with pytest.raises(CatalogError, match="not a valid WAP branch name"):
        drop_branch(catalog, results, "main")
    with pytest.raises(CatalogError, match="has no branch 'nope'"):
        publish_branch(catalog, results, "nope")


def test_is_ancestor(catalog: Catalog, results: str) -> None:
    first = catalog.write(results, day_rows("2024-01-01", 1))
    second = catalog.write(results, day_rows("2024-01-02", 1))
    assert first is not None and second is not None
    table = catalog.table(results)
    assert is_ancestor(table, first, second) and is_ancestor(table, second, second)
    assert not is_ancestor(table, second, first)
    assert is_ancestor(table, None, first)


def test_publish_racing_a_concurrent_publish_fails_instead_of_losing_data(catalog: Catalog, results: str) -> None:
    catalog.write(results, day_rows("2024-01-01", 10))
    create_branch(catalog, results, "slow")
    create_branch(catalog, results, "fast")
    catalog.write(results, day_rows("2024-01-02", 1), branch="slow")
    catalog.write(results, day_rows("2024-01-03", 2), branch="fast")
    racing = RacingCatalog(catalog.iceberg)
    racing.race = lambda: publish_branch(catalog, results, "fast")  # main moves after `slow`'s ancestry check

    with pytest.raises(ConflictError, match="main moved"):  # the commit fails, the retry sees main moved
        publish_branch(racing, results, "slow")
    assert catalog.read(results).num_rows == 12  # the fast publish survived
    assert "slow" in list_branches(catalog, results)
