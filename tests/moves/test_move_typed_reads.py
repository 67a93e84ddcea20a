"""`towpath kv get/scan` decode with the schema the move recorded in the state room: no generated module needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from move_helpers import move, move_file, profiles_project, store

sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))
from cli_helpers import towpath

from towpath.project import Project

AGE_TO_COUNTRY = """\
data_movement:
  source:
    table: crm.profiles
  key_columns: [profile_id]
  value_columns: [email, country]
"""


def test_get_and_scan_use_each_versions_recorded_schema(project: Project, kv_url: str) -> None:
    profiles_project(project)
    first = move(project, move_file(project, kv_url))
    second = move(project, move_file(project, kv_url, AGE_TO_COUNTRY))  # age dropped, country added
    read = ("-C", project.root)
    got = towpath(*read, "kv", "get", "profiles", '{"profile_id": 2}', "--store", kv_url, "--json")
    assert got.exit_code == 0, got.stderr
    assert json.loads(got.stdout) == {"namespace": "profiles", "found": True,
                                      "value": {"email": "bob@example.com", "country": "SE"}}
    old = towpath(*read, "kv", "get", first.namespace, '{"profile_id": 1}', "--store", kv_url, "--json")
    assert json.loads(old.stdout)["value"] == {"email": "ann@example.com", "age": 31}  # v1 read with v1's schema
    missing = towpath(*read, "kv", "get", "profiles", '{"profile_id": 99}', "--store", kv_url, "--json")
    assert missing.exit_code == 1 and json.loads(missing.stdout)["found"] is False
    page = json.loads(towpath(*read, "kv", "scan", second.namespace, "--limit", "10", "--store", kv_url,
                              "--json").stdout)
    assert sorted(r["key"]["profile_id"] for r in page["rows"]) == ["1", "2", "3", "4"]  # int64 is a JSON string
    assert {r["value"].get("country") for r in page["rows"]} == {"NO", "SE", "DK"}
    human = towpath(*read, "kv", "get", "profiles", '{"profile_id": 4}', "--store", kv_url)
    assert human.exit_code == 0 and "dan@example.com" in human.stdout


def test_a_namespace_without_a_recorded_schema_is_a_clear_error(project: Project, kv_url: str) -> None:
    with store(kv_url, project) as kv:
        kv.create_namespace("handmade")
        kv.put_batch("handmade", [b"k1"], [b"v1"])
    read = ("-C", project.root)
    result = towpath(*read, "kv", "get", "handmade", '{"id": 1}', "--store", kv_url)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "'handmade' has no schema recorded in the state room" in result.stderr
    assert "--proto-module" in result.stderr and "--raw" in result.stderr
    scanned = towpath(*read, "kv", "scan", "handmade", "--store", kv_url)
    assert scanned.exit_code == 1 and "has no schema recorded" in scanned.stderr
    raw = json.loads(towpath(*read, "kv", "get", "handmade", '"k1"', "--raw", "--store", kv_url, "--json").stdout)
    assert raw == {"namespace": "handmade", "found": True, "value": {"base64": "djE="}}


def test_without_a_project_the_error_says_where_a_schema_comes_from(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = towpath("kv", "get", "profiles", '{"profile_id": 1}', "--store", f"embedded:{tmp_path / 'kv'}")
    assert result.exit_code == 1 and "no project to read the schema of 'profiles' from" in result.stderr
