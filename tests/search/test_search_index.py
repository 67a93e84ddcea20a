"""The search room: documents keyed by string, JSON fields, filters, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from towpath.errors import UnknownNameError
from towpath.search import SearchError, open_index

SRC = str(Path(__file__).resolve().parents[2] / "src")

PATIENTS = pa.table({
    "id": [1, 2, 3],
    "name": ["Ada Lovelace", "Grace Hopper", "Alan Turing"],
    "city": ["Austin", "Boston", "Austin"],
    "condition": ["type 2 diabetes", "hypertension", "diabetes insipidus"],
    "steps": [1200, 9000, 300],
})


@pytest.fixture
def index(tmp_path: Path):  # type: ignore[no-untyped-def]
    idx = open_index(tmp_path, "patients", create=True)
    idx.add(pa.array(["1", "2", "3"]), PATIENTS)
    idx.commit({"note": "loaded"})
    yield idx
    idx.close()


def test_words_fields_and_filters_find_the_right_documents(index) -> None:  # type: ignore[no-untyped-def]
    assert {h.key for h in index.search("diabetes").hits} == {"1", "3"}
    assert [h.key for h in index.search("diabetes AND city:Austin", filters={"name": "alan"}).hits] == ["3"]
    assert index.search("hopper").hits[0].fields == {"id": 2, "name": "Grace Hopper", "city": "Boston",
                                                   "condition": "hypertension", "steps": 9000}
    assert index.search("*", limit=2).total == 3 and len(index.search("*", limit=2).hits) == 2
    assert index.meta() == {"note": "loaded"}


def test_upsert_replaces_and_delete_removes_by_key(index) -> None:  # type: ignore[no-untyped-def]
    index.upsert(pa.array(["2"]), pa.table({"id": [2], "name": ["Grace Brewster"], "plan": ["gold"]}))
    index.delete(pa.array(["3"]))
    index.commit()
    docs = index.documents()
    assert set(docs) == {"1", "2"} and docs["2"] == {"id": 2, "name": "Grace Brewster", "plan": "gold"}
    assert [h.key for h in index.search("plan:gold").hits] == ["2"]  # a new column is searchable at once


def test_unknown_index_and_bad_query_are_clear_errors(index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnknownNameError, match="Did you mean 'patients'"):
        open_index(tmp_path, "patient")
    with pytest.raises(SearchError, match="cannot parse the query"):
        index.search('name:"unclosed')


def test_cli_search_json_and_errors(index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "towpath.yaml").write_text("")
    env = {**os.environ, "PYTHONPATH": SRC}
    cmd = [sys.executable, "-m", "towpath.cli.main", "-C", str(tmp_path), "search"]
    out = subprocess.run([*cmd, "patients", "diabetes", "--filter", "city=Austin", "--limit", "1", "--json"],
                         capture_output=True, text=True, env=env, check=True)
    result = json.loads(out.stdout)
    assert result["total"] == 2 and len(result["hits"]) == 1
    only = subprocess.run([*cmd, "patients", "condition:diabetes", "--fields", "name, city", "--json"],
                          capture_output=True, text=True, env=env, check=True)
    assert sorted((h["key"], tuple(h["fields"].items())) for h in json.loads(only.stdout)["hits"]) == [
        ("1", (("name", "Ada Lovelace"), ("city", "Austin"))), ("3", (("name", "Alan Turing"), ("city", "Austin")))]
    bad = subprocess.run([*cmd, "patient", "x"], capture_output=True, text=True, env=env, check=False)
    assert bad.returncode == 1 and "Did you mean 'patients'" in bad.stderr and "Traceback" not in bad.stderr
