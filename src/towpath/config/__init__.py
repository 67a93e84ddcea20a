"""Config room: `towpath.yaml` and every YAML spec as pydantic models that know their file:line."""

from towpath.config._yaml import Document, load_yaml
from towpath.config.base import Spec, dotted, invalid, load_spec, parse_spec
from towpath.config.params import parse_assignments, references, substitute, substitute_all
from towpath.config.project import (
    DEFAULT_PROJECT_YAML,
    PROJECT_FILE,
    STATE_DIR,
    EngineConfig,
    OpenLineageConfig,
    ProjectConfig,
    field_error,
    find_project_root,
    load_project_config,
)
from towpath.config.unions import RegisteredUnion, tagged_union

__all__ = [
    "DEFAULT_PROJECT_YAML",
    "PROJECT_FILE",
    "STATE_DIR",
    "Document",
    "EngineConfig",
    "OpenLineageConfig",
    "ProjectConfig",
    "RegisteredUnion",
    "Spec",
    "dotted",
    "field_error",
    "find_project_root",
    "invalid",
    "load_project_config",
    "load_spec",
    "load_yaml",
    "parse_assignments",
    "parse_spec",
    "references",
    "substitute",
    "substitute_all",
    "tagged_union",
]
