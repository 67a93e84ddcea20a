"""`towpath.yaml`: how values resolve against the project folder, and every mistake at file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from towpath.config import ProjectConfig, load_project_config
from towpath.config.project import RestCatalogConfig, SqlCatalogConfig
from towpath.errors import SpecError
from towpath.project import Project


def write(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "towpath.yaml").write_text(text)
    return root


# -- resolution ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("sqlite:///.towpath/catalog.db", "sqlite:///{root}/.towpath/catalog.db"),   # relative: under the project
    ("sqlite:////var/lib/towpath/catalog.db", "sqlite:////var/lib/towpath/catalog.db"),  # absolute: as is
    ("sqlite://", "sqlite://"),                                                   # in memory
    ("postgresql+psycopg2://u:p@db:5432/iceberg", "postgresql+psycopg2://u:p@db:5432/iceberg"),
    (".towpath/warehouse", "{root}/.towpath/warehouse"),
    ("/data/warehouse", "/data/warehouse"),
    ("s3://bucket/prefix", "s3://bucket/prefix"),
])
def test_paths_and_uris_resolve_against_the_project_folder(tmp_path, value, expected):
    assert ProjectConfig().resolve(tmp_path, value) == expected.format(root=tmp_path.resolve())


def test_the_default_project_keeps_its_catalog_and_state_under_the_folder(tmp_path):
    project = Project.init(tmp_path / "p")
    config = project.config
    assert isinstance(config.catalog, SqlCatalogConfig)
    assert config.resolve(project.root, config.catalog.uri) == f"sqlite:///{project.root}/.towpath/catalog.db"
    project.catalog.ensure_namespace("db")
    assert (project.root / ".towpath" / "catalog.db").is_file()
    assert (project.root / ".towpath" / "warehouse").is_dir()


def test_a_rest_catalog_keeps_its_url_and_properties(tmp_path):
    root = write(tmp_path / "p", "catalog:\n  type: rest\n  uri: https://catalog.example.com/api\n"
                                 "  properties: {credential: 'id:secret', warehouse: prod}\n"
                                 "warehouse: s3://lake/prod\n")
    config = load_project_config(root)
    assert isinstance(config.catalog, RestCatalogConfig)
    assert (config.catalog.uri, config.catalog.properties) == (
        "https://catalog.example.com/api", {"credential": "id:secret", "warehouse": "prod"})
    assert config.resolve(root, config.warehouse) == "s3://lake/prod"


def test_an_empty_file_means_every_default(tmp_path):
    assert load_project_config(write(tmp_path / "p", "\n")) == ProjectConfig()


# -- mistakes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "where", "message"), [
    ("timezone: Europe/Berln\n", "1:1: timezone", ("unknown time zone (expected an IANA name like 'UTC' or "
     "'Europe/Berlin') (got 'Europe/Berln')")),
    ("catalog:\n  uri: sqlit:///x.db\n", "2:3: catalog.uri", "expected a SQLAlchemy URL of SQLite or PostgreSQL"),
    ("catalog:\n  uri: .towpath/catalog.db\n", "2:3: catalog.uri", "expected a SQLAlchemy URL"),
    ("catalog:\n  type: rest\n  uri: catalog.example.com\n", "3:3: catalog.uri",
     "expected the REST catalog's http(s) URL, e.g. https://catalog.example.com (got 'catalog.example.com')"),
    ("catalog:\n  type: hive\n", "2:3: catalog", "expected catalog type 'sql' or 'rest' (got 'hive')"),
    ("warehouse: s3//bucket/prefix\n", "1:1: warehouse", "this looks like a mistyped URI (expected s3://...)"),
    ("warehouse: 's3:/bucket'\n", "1:1: warehouse", "looks like a mistyped URI"),
    ("warehouse: ftp://host/lake\n", "1:1: warehouse", "unknown warehouse URI scheme 'ftp://'"),
    ("warehouse: s3:///prefix\n", "1:1: warehouse", "names no bucket"),
    ("engine:\n  type: duckdb\n  threads: many\n", "3:3: engine.threads", "valid integer"),
])
def test_a_mistake_in_towpath_yaml_is_an_error_at_its_line_and_column(tmp_path, text, where, message):
    root = write(tmp_path / "p", text)
    with pytest.raises(SpecError) as info:
        load_project_config(root)
    assert str(info.value).startswith(f"{root / 'towpath.yaml'}:{where}: ")
    assert message in str(info.value)


def test_a_warehouse_path_that_is_a_file_is_an_error(tmp_path):
    root = write(tmp_path / "p", "name: p\nwarehouse: data.csv\n")
    (root / "data.csv").write_text("a,b\n")
    with pytest.raises(SpecError, match=r"towpath.yaml:2:1: warehouse: .*data.csv is a file; the warehouse must be a folder"):
        load_project_config(root)


def test_a_local_folder_that_only_looks_like_a_scheme_is_still_a_folder(tmp_path):
    root = write(tmp_path / "p", "warehouse: ./s3\n")
    assert load_project_config(root).resolve(root, "./s3") == str(root.resolve() / "s3")


@pytest.mark.parametrize(("text", "where", "message"), [
    ("engine:\n  type: duckd\n", "2:3: engine.type", "Unknown engine 'duckd'. Did you mean 'duckdb'?"),
    ("dialect: sparc\n", "1:1: dialect", "Unknown SQL dialect 'sparc'. Did you mean 'spark'?"),
])
def test_an_unknown_engine_or_dialect_stops_a_run_before_anything_runs(tmp_path, text, where, message):
    root = write(tmp_path / "p", text)
    (root / "wf.sch.yaml").write_text(
        "id: wf\nsteps:\n  - job: {id: t, type: sql, sql: 'CREATE TABLE IF NOT EXISTS b.t (x INT) USING iceberg'}\n")
    project = Project(root)
    with pytest.raises(SpecError) as info:
        project.run("wf.sch.yaml", date="2022-01-01")
    assert str(info.value) == f"{root / 'towpath.yaml'}:{where}: {message}"
    assert project.state.list_runs() == []
