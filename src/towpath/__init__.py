"""towpath: the paved path for data pipelines."""

from towpath.errors import TowpathError

__version__ = "0.1.0"

__all__ = ["TowpathError", "__version__"]
