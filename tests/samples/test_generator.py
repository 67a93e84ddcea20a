"""`towpath sample workflow`: what it writes, the names it picks, and what it refuses (writing nothing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from samples_data import USER, towpath_cli

from towpath.errors import UnknownNameError
from towpath.project import Project
from towpath.samples import (
    RECIPES,
    RecipeUnavailableError,
    SampleError,
    TemplateError,
    recipe_path,
    sample_names,
    sample_workflow,
    sanitize_user,
)
from towpath.workflows.loader import load_workflow
from towpath.workflows.params import builtin_params
from towpath.workflows.spec import BackfillSpec, DailySpec, WorkflowSpec

RUNNABLE = [name for name, recipe in RECIPES.items() if recipe.runnable]
TRANSFORMS = {"sql": "sql_write.sql", "spark-sql": "sparksql_write.sql", "python": "python_write.py", "pyspark": "pyspark_write.py"}
RUN = builtin_params(execution_date="2022-01-01", timezone="UTC", catalog="c", run_id="r")
"""What the runner hands the loader for one run (the same function assembles it)."""


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("recipe", RUNNABLE)
def test_every_runnable_recipe_renders_the_seed_layout_with_isolated_names(tmp_path, recipe):
    result = sample_workflow(recipe, tmp_path / "wf")
    short = RECIPES.get(recipe).default_shortname
    db, stem = f"sample_{USER}", TRANSFORMS[recipe].rsplit(".", 1)[0]
    assert files_under(tmp_path / "wf") == result.files == sorted([
        ".gitignore", "README.md", "backfill.sch.yaml", "daily.sch.yaml", f"ddl/{short}.sql", "main.sch.yaml",
        f"src/mocks/{db}.{short}_results.yaml", f"src/mocks/{db}.{short}_source.yaml",
        f"src/{TRANSFORMS[recipe]}", f"src/test_{stem}.py", "towpath.yaml",
    ])
    assert result.tables == {"target": f"{db}.{short}_results", "source": f"{db}.{short}_source"}
    for path in (tmp_path / "wf").rglob("*"):
        if path.is_file():
            assert "{{" not in path.read_text(), f"unrendered placeholder in {path}"
    main = load_workflow(tmp_path / "wf" / "main.sch.yaml", RUN)
    assert isinstance(main, WorkflowSpec) and main.id == short
    assert list(main.dag()) == ["source", "ddl", "metadata", "wap", "hwm"]
    assert main.params["TARGET_DB"] == db and main.params["SOURCE_TABLE"] == f"{db}.{short}_source"
    assert isinstance(load_workflow(tmp_path / "wf" / "daily.sch.yaml", RUN), DailySpec)
    assert isinstance(load_workflow(tmp_path / "wf" / "backfill.sch.yaml", RUN), BackfillSpec)
    assert f"table: {db}.{short}_source" in (tmp_path / "wf" / f"src/mocks/{db}.{short}_source.yaml").read_text()


def test_shortname_and_workflow_id_name_the_files_tables_and_workflows(tmp_path):
    result = sample_workflow("sql", tmp_path / "wf", shortname="top_titles", workflow_id="analytics.top-titles")
    assert result.tables == {"target": f"sample_{USER}.top_titles_results", "source": f"sample_{USER}.top_titles_source"}
    assert (tmp_path / "wf" / "ddl" / "top_titles.sql").is_file()
    assert load_workflow(tmp_path / "wf" / "main.sch.yaml", RUN).id == "analytics.top-titles"
    assert load_workflow(tmp_path / "wf" / "daily.sch.yaml", RUN).id == "analytics.top-titles_daily"


def test_names_differ_by_user_and_by_shortname():
    sql = RECIPES.get("sql")
    ana, bob = sample_names(sql, user="Ana.Lima"), sample_names(sql, user="bob")
    assert ana.target == "sample_ana_lima.dataflow_sql_sample_results" and ana.target != bob.target
    assert ana.source_table != bob.source_table
    assert sample_names(sql, shortname="a", user="bob").target != sample_names(sql, shortname="b", user="bob").target
    assert sanitize_user("42-Root") == "u42_root" and sanitize_user("...") == "user"


def test_inside_a_project_the_sample_uses_it_and_creates_no_second_one(tmp_path):
    project = Project.init(tmp_path / "proj")
    result = sample_workflow("python", project.root / "flows" / "top")
    assert not result.project_created and result.project_root == project.root
    assert not (project.root / "flows" / "top" / "towpath.yaml").exists()


def test_a_pyspark_sample_gets_a_project_on_the_spark_engine(tmp_path):
    result = sample_workflow("pyspark", tmp_path / "wf")
    config = Project(tmp_path / "wf").config
    assert result.project_created and config.engine.type == "spark" and config.engine.spark.master == "local[2]"
    assert Project(sample_workflow("sql", tmp_path / "other").target).config.engine.type == "duckdb"


def test_recipe_path_is_the_seed_named_spark_sql_sample_without_the_source_step():
    folder = recipe_path("spark-sql")
    main = load_workflow(folder / "main.sch.yaml", RUN)
    assert list(main.dag()) == ["ddl", "metadata", "wap", "hwm"]
    assert main.params["TARGET_DB"] == "foo" and main.params["TARGET_TABLE"] == "dataflow_sample_results"
    assert main.params["SOURCE_TABLE"] == "some_db.source_table"
    assert (folder / "ddl" / "dataflow_sparksql_sample.sql").is_file()
    assert (folder / "src" / "mocks" / "some_db.source_table.yaml").is_file()


def test_force_writes_into_a_non_empty_folder_and_keeps_other_files(tmp_path):
    target = tmp_path / "wf"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "main.sch.yaml").write_text("old")
    with pytest.raises(SampleError, match="is not empty; .* --force"):
        sample_workflow("sql", target)
    assert files_under(target) == ["main.sch.yaml", "notes.txt"]
    sample_workflow("sql", target, force=True)
    assert (target / "notes.txt").read_text() == "mine" and "id: dataflow_sql_sample" in (target / "main.sch.yaml").read_text()
    assert not list(target.rglob("*.towpath-tmp"))


# -- refusals: each one writes nothing --------------------------------------------------------


def test_unknown_recipe_suggests_the_closest_and_writes_nothing(tmp_path):
    with pytest.raises(UnknownNameError, match="Unknown recipe 'pyspak'. Did you mean 'pyspark'?"):
        sample_workflow("pyspak", tmp_path / "wf")
    assert not (tmp_path / "wf").exists()


@pytest.mark.parametrize(("recipe", "needs"), [("scala", "sbt or gradle"), ("sparklyr", "R with the sparklyr package")])
def test_scala_and_sparklyr_say_what_toolchain_they_need_and_write_nothing(tmp_path, recipe, needs):
    with pytest.raises(RecipeUnavailableError, match=f"needs .*{needs}.*not installed here.*nothing was written"):
        sample_workflow(recipe, tmp_path / "wf")
    assert not (tmp_path / "wf").exists()
    out = towpath_cli("sample", "workflow", recipe, str(tmp_path / "wf"), cwd=tmp_path)
    assert out.returncode == 1 and "not installed here" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "wf").exists()


@pytest.mark.parametrize(
    ("shortname", "workflow_id", "message"),
    [("Top-Titles", None, "short name 'Top-Titles' is not usable"), ("ok", "bad id!", "workflow id 'bad id!' is not valid")],
)
def test_bad_names_are_refused_before_anything_is_written(tmp_path, shortname, workflow_id, message):
    with pytest.raises(SampleError, match=message):
        sample_workflow("sql", tmp_path / "wf", shortname=shortname, workflow_id=workflow_id)
    assert not (tmp_path / "wf").exists()


def test_an_unwritable_target_is_a_clear_error_and_writes_nothing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(SampleError, match="cannot write to .*a-file/wf: .*a-file is not a writable folder"):
        sample_workflow("sql", blocker / "wf")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        if os.geteuid() == 0:  # root ignores permission bits: a read-only mount is the real thing here
            target = Path("/proc/towpath-sample")
        else:
            target = read_only / "wf"
        with pytest.raises(SampleError, match="nothing was written"):
            sample_workflow("sql", target)
        assert not target.exists() and list(read_only.iterdir()) == []
    finally:
        read_only.chmod(0o755)
    assert blocker.read_text() == "not a folder"


def test_a_template_folder_missing_workflow_files_lists_them_and_writes_nothing(tmp_path):
    template = tmp_path / "tpl"
    (template / "src").mkdir(parents=True)
    (template / "main.sch.yaml").write_text("id: {{workflow_id}}\nsteps: []\n")
    with pytest.raises(TemplateError, match="lacks daily.sch.yaml, backfill.sch.yaml .*nothing was written"):
        sample_workflow("sql", tmp_path / "wf", source_path=template)
    with pytest.raises(TemplateError, match="template folder not found"):
        sample_workflow("sql", tmp_path / "wf", source_path=tmp_path / "nope")
    assert not (tmp_path / "wf").exists()
    out = towpath_cli("sample", "workflow", "sql", "wf", "--source-path", str(template), cwd=tmp_path)
    assert out.returncode == 1 and "lacks daily.sch.yaml, backfill.sch.yaml" in out.stderr.replace("\n", " ")


def custom_template(tmp_path: Path) -> Path:
    template = tmp_path / "tpl"
    (template / "src").mkdir(parents=True)
    for name in ("main.sch.yaml", "daily.sch.yaml", "backfill.sch.yaml"):
        (template / name).write_text("id: {{workflow_id}}\n")
    return template


def test_a_custom_template_is_rendered_with_the_same_placeholders(tmp_path):
    template = custom_template(tmp_path)
    (template / "src" / "{{shortname}}.sql").write_text("SELECT * FROM {{source_table}} WHERE date = DATE '${DATE}'\n")
    result = sample_workflow("sql", tmp_path / "wf", source_path=template, shortname="mine")
    assert "src/mine.sql" in result.files
    assert (tmp_path / "wf" / "src" / "mine.sql").read_text() == (
        f"SELECT * FROM sample_{USER}.mine_source WHERE date = DATE '${{DATE}}'\n"
    )


@pytest.mark.parametrize("link", ["file", "folder"])
def test_a_template_linking_outside_itself_is_refused_and_writes_nothing(tmp_path, link):
    template = custom_template(tmp_path)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("do not copy")
    if link == "file":
        (template / "src" / "key.txt").symlink_to(secret / "key.txt")
    else:
        (template / "src" / "escape").symlink_to(tmp_path)
    with pytest.raises(TemplateError, match="links outside the template folder"):
        sample_workflow("sql", tmp_path / "wf", source_path=template)
    assert not (tmp_path / "wf").exists()


def test_unknown_placeholders_name_the_file_and_line(tmp_path):
    template = custom_template(tmp_path)
    (template / "main.sch.yaml").write_text("id: {{workflow_id}}\nparams:\n  X: {{target_dbb}}\n")
    with pytest.raises(TemplateError, match=r"main.sch.yaml:3: unknown placeholder '\{\{target_dbb\}\}'"):
        sample_workflow("sql", tmp_path / "wf", source_path=template)
    assert not (tmp_path / "wf").exists()


# -- the command line -------------------------------------------------------------------------


def test_help_lists_every_recipe_with_one_line(tmp_path):
    out = towpath_cli("sample", "workflow", "--help", cwd=tmp_path)
    assert out.returncode == 0
    for name, recipe in RECIPES.items():
        assert f"  {name.ljust(9)}  {recipe.summary}" in out.stdout
    for option in ("--source-path", "--workflow-shortname", "--workflow-id", "--skip-info", "--force"):
        assert option in out.stdout


def test_cli_writes_into_the_current_folder_and_prints_how_to_run_it(tmp_path):
    out = towpath_cli("sample", "workflow", "spark-sql", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "main.sch.yaml").is_file() and (tmp_path / "towpath.yaml").is_file()
    text = " ".join(out.stdout.split())
    assert f"sample_{USER}.dataflow_sparksql_sample_results" in text
    assert "towpath workflow run main.sch.yaml -p DATE=2022-01-01" in text and "pytest src" in text
    again = towpath_cli("sample", "workflow", "spark-sql", "--skip-info", cwd=tmp_path)
    assert again.returncode == 1 and "is not empty" in again.stderr


def test_cli_json_reports_files_and_tables(tmp_path):
    import json

    out = towpath_cli("sample", "workflow", "python", "wf", "--json", "--workflow-shortname", "px", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["tables"]["target"] == f"sample_{USER}.px_results" and "src/python_write.py" in report["files"]
    assert report["project_created"] is True
