"""towpath: the paved path for data pipelines."""

from towpath.errors import TowpathError

__version__ = "0.1.0"

__all__ = ["Project", "TowpathError", "__version__"]


def __getattr__(name: str) -> object:
    # Lazy: `import towpath` (and `towpath --help`) must not import pyiceberg/duckdb.
    if name == "Project":
        from towpath.project import Project

        return Project
    raise AttributeError(f"module 'towpath' has no attribute {name!r}")
