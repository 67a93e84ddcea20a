"""Deploy room: branch-driven environments (deploy, promote, list, drop) and the CI that drives them.

The isolation itself lives where tables and runs are resolved: `towpath.environment`
(names, `resolve_env`), the catalog (`Catalog.table`: an environment's copy, or
production read-only) and the state store (runs per environment). This room
records deployments (`StateStore.deployments`), gates and performs promotions,
and writes CI configuration. See docs/deploy.md.
"""

from towpath.deploy.ci import PROVIDERS, CiConfig, CiStep, ci_config, write_ci
from towpath.deploy.environments import (
    PRODUCTION,
    DeployResult,
    Environment,
    PromoteResult,
    deploy,
    drop,
    environments,
    in_env,
    promote,
)
from towpath.deploy.errors import DeployError
from towpath.deploy.git import GitState, NotAGitRepositoryError, git_state

__all__ = [
    "PRODUCTION",
    "PROVIDERS",
    "CiConfig",
    "CiStep",
    "DeployError",
    "DeployResult",
    "Environment",
    "GitState",
    "NotAGitRepositoryError",
    "PromoteResult",
    "ci_config",
    "deploy",
    "drop",
    "environments",
    "git_state",
    "in_env",
    "promote",
    "write_ci",
]
