"""`towpath sample workflow`: render a recipe's template folder into a runnable sample.

Templates use `{{name}}` placeholders, which cannot collide with the `${VAR}`s
the workflows themselves use at run time. The generator renders every file in
memory first (so a bad template, a bad name or a refused recipe writes
nothing), then writes the files next to their final names and renames them
into place only once all of them were written. Names come from the user and
the short name, so two samples never write the same tables:

    target  sample_<user>.<shortname>_results
    source  sample_<user>.<shortname>_source   (filled with synthetic sessions on first run)
"""

from __future__ import annotations

import atexit
import getpass
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from towpath.config import PROJECT_FILE
from towpath.samples.errors import SampleError, TemplateError
from towpath.samples.recipe import Recipe, get_recipe, require_runnable

REQUIRED_FILES = ("main.sch.yaml", "daily.sch.yaml", "backfill.sch.yaml")
"""Files every template folder must have (the seed's trio of workflow definitions)."""

SKIPPED = {"__pycache__", ".pytest_cache", ".DS_Store"}
"""Names never copied from a template folder (build leftovers)."""

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SHORTNAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
WORKFLOW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

SOURCE_STEP = """\
  # Fills ${SOURCE_TABLE} with synthetic viewing sessions for ${DATE} when that day is
  # missing (deterministic for SOURCE_SEED). On real data: point SOURCE_TABLE at your
  # table and delete this step.
  - job:
      id: source
      type: python
      callable: towpath.samples.jobs:ensure_source_data
"""
"""The first step of a generated main workflow: a packaged job that creates the source data."""

SPARK_ENGINE = {"type": "spark", "spark": {"master": "local[2]"}}
"""Engine block of a project the generator creates for a Spark-only recipe."""


@dataclass(frozen=True)
class SampleNames:
    """Every name a rendered sample uses; the values of the template placeholders."""

    workflow_id: str
    shortname: str
    target_db: str
    target_table: str
    source_table: str
    user: str

    @property
    def target(self) -> str:
        return f"{self.target_db}.{self.target_table}"

    def placeholders(self, *, source_step: bool) -> dict[str, str]:
        return {
            "workflow_id": self.workflow_id,
            "shortname": self.shortname,
            "target_db": self.target_db,
            "target_table": self.target_table,
            "source_table": self.source_table,
            "user": self.user,
            "source_step": SOURCE_STEP if source_step else "",
        }


SEED_NAMES = SampleNames(
    workflow_id="dataflow_sparksql_sample",
    shortname="dataflow_sparksql_sample",
    target_db="foo",
    target_table="dataflow_sample_results",
    source_table="some_db.source_table",
    user="seed",
)
"""The seed's own names (`foo.dataflow_sample_results` from `some_db.source_table`)."""


@dataclass
class SampleResult:
    """What `sample_workflow` wrote and what to do next."""

    recipe: str
    target: Path
    workflow_id: str
    shortname: str
    files: list[str]
    """Paths written, relative to `target`, sorted."""
    tables: dict[str, str]
    """Role (`target`, `source`) -> `db.table` the sample writes."""
    project_root: Path
    project_created: bool
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe, "target": str(self.target), "workflow_id": self.workflow_id,
            "shortname": self.shortname, "files": self.files, "tables": self.tables,
            "project_root": str(self.project_root), "project_created": self.project_created,
            "next_steps": self.next_steps,
        }


def sanitize_user(name: str) -> str:
    """A user name as an identifier fragment: `Jane.Doe-2` -> `jane_doe_2`."""
    clean = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "user"
    return clean if clean[0].isalpha() else f"u{clean}"


def current_user() -> str:
    """The user the sample is isolated for (`TOWPATH_USER` wins, as for `${username}`)."""
    return sanitize_user(os.environ.get("TOWPATH_USER") or getpass.getuser())


def sample_names(
    recipe: Recipe, *, shortname: str | None = None, workflow_id: str | None = None, user: str | None = None
) -> SampleNames:
    """Derive the isolated names of a sample; validates the short name and workflow id."""
    short = shortname if shortname is not None else recipe.default_shortname
    if not SHORTNAME.match(short):
        raise SampleError(
            f"workflow short name '{short}' is not usable in table names: expected a lowercase letter, then "
            "lowercase letters, digits or '_' (at most 48), e.g. 'top_titles'"
        )
    wid = workflow_id if workflow_id is not None else short
    if not WORKFLOW_ID.match(wid):
        raise SampleError(
            f"workflow id '{wid}' is not valid: expected letters, digits, '_', '.' or '-' (at most 100), "
            "starting with a letter or digit"
        )
    who = sanitize_user(user) if user is not None else current_user()
    db = f"sample_{who}"
    return SampleNames(wid, short, db, f"{short}_results", f"{db}.{short}_source", who)


# -- rendering ----------------------------------------------------------------------------------


def render_template(folders: Path | Sequence[Path], values: Mapping[str, str]) -> dict[str, bytes]:
    """Every file of a template, rendered in memory: relative POSIX path -> content.

    A template is one folder or several overlaid in order (a later folder's file
    replaces an earlier one's): the packaged recipes share `_common/` and add their
    own transform, test, README and main workflow on top.

    Raises:
        TemplateError: a folder is missing, the template lacks a required file, holds a link
            leading outside its folder, uses an unknown placeholder, or renders a path outside the target.
    """
    given = [folders] if isinstance(folders, Path) else list(folders)
    roots = [folder.resolve() for folder in given]
    for folder, root in zip(given, roots, strict=True):
        if not root.is_dir():
            raise TemplateError(f"template folder not found: {folder}", field="--source-path")
    missing = [name for name in REQUIRED_FILES if not any((root / name).is_file() for root in roots)]
    if missing:
        shown = ", ".join(str(folder) for folder in given)
        raise TemplateError(
            f"template folder {shown} lacks {', '.join(missing)} (every template needs "
            f"{', '.join(REQUIRED_FILES)}); nothing was written",
            field="--source-path",
        )
    files: dict[str, bytes] = {}
    for root in roots:
        files.update(_render_folder(root, values))
    return files


def _render_folder(root: Path, values: Mapping[str, str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED)
        for name in [*dirnames, *filenames]:
            path = here / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise TemplateError(
                    f"{path.relative_to(root)} links outside the template folder (to {path.resolve()}); "
                    "templates may only hold their own files",
                    file=path,
                )
        for name in sorted(filenames):
            if name in SKIPPED or name.endswith(".pyc"):
                continue
            path = here / name
            rel = _render_path(path.relative_to(root).as_posix(), values, path)
            files[rel] = _render_file(path, values)
    return files


def _render_text(text: str, values: Mapping[str, str], file: Path, *, what: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            line = text.count("\n", 0, match.start()) + 1
            raise TemplateError(
                f"unknown placeholder '{{{{{name}}}}}' in the {what}; known: {', '.join(sorted(values))}",
                file=file, line=line,
            )
        return values[name]

    return PLACEHOLDER.sub(replace, text)


def _render_path(rel: str, values: Mapping[str, str], file: Path) -> str:
    rendered = _render_text(rel, values, file, what="file name")
    parts = PurePosixPath(rendered).parts
    if rendered.startswith("/") or not parts or any(p in ("..", ".", "") for p in parts) or "\\" in rendered:
        raise TemplateError(f"renders to '{rendered}', a path outside the target folder", file=file)
    return PurePosixPath(*parts).as_posix()


def _render_file(path: Path, values: Mapping[str, str]) -> bytes:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # binary files are copied as they are
    return _render_text(text, values, path, what="file").encode("utf-8")


# -- the project a sample lands in ------------------------------------------------------------


def _enclosing_project(target: Path) -> Path | None:
    for folder in (target, *target.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def _project_files(target: Path, recipe: Recipe) -> dict[str, bytes]:
    """`towpath.yaml` and `.gitignore` as `Project.init` writes them, plus the recipe's engine."""
    import io

    from ruamel.yaml import YAML

    from towpath.project import Project

    name = re.sub(r"[^A-Za-z0-9_-]+", "_", target.name).strip("_") or "sample"
    with tempfile.TemporaryDirectory(prefix="towpath-sample-project-") as tmp:
        Project.init(tmp, name=name)
        files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
    if recipe.engine != "duckdb":
        yaml = YAML()
        config = yaml.load(files[PROJECT_FILE])
        config["engine"] = {**SPARK_ENGINE} if recipe.engine == "spark" else {"type": recipe.engine}
        out = io.StringIO()
        yaml.dump(config, out)
        files[PROJECT_FILE] = out.getvalue().encode("utf-8")
    return files


# -- writing ------------------------------------------------------------------------------------


def _check_target(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise SampleError(f"target {target} exists and is not a folder; nothing was written")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise SampleError(
            f"target folder {target} is not empty; choose an empty or new folder, or pass --force to "
            "write the sample's files into it (files of the same name are replaced)"
        )
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise SampleError(f"cannot write to {target}: {existing} is not a writable folder; nothing was written")


def _install(files: Mapping[str, bytes], target: Path) -> None:
    """Write every file beside its final name, then rename them all into place.

    A failure while writing (permissions, a full disk, a file where a folder
    should be) removes what was written and the folders made for it.
    """
    made: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    try:
        for rel, content in files.items():
            final = target / rel
            for folder in reversed([final.parent, *final.parent.parents]):
                if not folder.exists():
                    folder.mkdir()
                    made.append(folder)
            temp = final.with_name(f".{final.name}.towpath-tmp")
            temp.write_bytes(content)
            staged.append((temp, final))
    except OSError as exc:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        for folder in reversed(made):
            shutil.rmtree(folder, ignore_errors=True)
        raise SampleError(f"cannot write the sample into {target}: {exc.strerror or exc}; nothing was written") from None
    for temp, final in staged:
        os.replace(temp, final)


def sample_workflow(
    recipe: str,
    target: Path | str = ".",
    *,
    shortname: str | None = None,
    workflow_id: str | None = None,
    source_path: Path | str | None = None,
    force: bool = False,
    user: str | None = None,
) -> SampleResult:
    """Generate the sample workflow of `recipe` into `target`, ready to run.

    Args:
        recipe: a name from `RECIPES` (`sql`, `spark-sql`, `python`, `pyspark`; `scala` and
            `sparklyr` are refused with what they need).
        target: folder to write into (created if missing; must be empty unless `force`).
        shortname: names the DDL file and the tables (default: the recipe's, e.g. `dataflow_sql_sample`).
        workflow_id: id of the main workflow (default: the short name).
        source_path: a custom template folder with the same layout, used instead of the packaged one.
        force: write into a non-empty folder, replacing files of the same name.
        user: the user to isolate the tables for (default: `TOWPATH_USER` or the login name).

    Returns:
        The files written, the tables the sample will write and the commands to try next.
        When `target` is not inside a towpath project, a project is created in it.

    Raises:
        UnknownNameError: no such recipe (with a "did you mean").
        RecipeUnavailableError: the recipe needs a toolchain that is not installed.
        SampleError: bad names, a non-empty or unwritable target.
        TemplateError: the template folder is incomplete or unsafe.
    """
    spec = get_recipe(recipe)
    require_runnable(spec)
    names = sample_names(spec, shortname=shortname, workflow_id=workflow_id, user=user)
    folder = Path(target).expanduser().absolute()
    template = [Path(source_path).expanduser()] if source_path is not None else spec.template_folders
    files = render_template(template, names.placeholders(source_step=True))
    _check_target(folder, force)
    project = _enclosing_project(folder)
    created = project is None
    if created:
        files = {**_project_files(folder, spec), **files}
    _install(files, folder)
    root = project or folder
    return SampleResult(
        recipe=spec.name, target=folder, workflow_id=names.workflow_id, shortname=names.shortname,
        files=sorted(files), tables={"target": names.target, "source": names.source_table},
        project_root=root, project_created=created,
        next_steps=[
            *([f"cd {folder}"] if folder != Path.cwd() else []),
            "towpath workflow run main.sch.yaml -p DATE=2022-01-01",
            "towpath project test      (or: pytest src)",
            "towpath workflow backfill backfill.sch.yaml --start 2022-01-01 --end 2022-01-03",
            f"towpath table show {names.target}",
        ],
    )


def render_recipe(recipe: str, target: Path | str, names: SampleNames = SEED_NAMES, *, source_step: bool = False) -> Path:
    """Render a packaged recipe with fixed names into `target` (no project, no checks); returns it.

    For demos, benchmarks and tests that bring their own source data: by default the seed's
    names (`foo.dataflow_sample_results` from `some_db.source_table`) and no source step.
    """
    folder = Path(target)
    files = render_template(get_recipe(recipe).template_folders, names.placeholders(source_step=source_step))
    for rel, content in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(content)
    return folder


_RENDERED: dict[str, Path] = {}


def recipe_path(name: str) -> Path:
    """A read-only, runnable copy of recipe `name` in the seed's names, rendered once per process.

    Copy it before changing it. `towpath sample workflow` is the way to get an isolated
    sample; this is for demos and tests that load `some_db.source_table` themselves.
    """
    recipe = get_recipe(name)
    require_runnable(recipe)
    if name not in _RENDERED or not _RENDERED[name].is_dir():
        root = Path(tempfile.mkdtemp(prefix=f"towpath-recipe-{name}-"))
        atexit.register(shutil.rmtree, root, True)
        _RENDERED[name] = render_recipe(name, root / name)
    return _RENDERED[name]
