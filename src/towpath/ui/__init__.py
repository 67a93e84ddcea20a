"""UI room: `towpath ui`, a web console over one project.

Server-rendered pages (Starlette, Jinja2) over the same public functions the
CLI calls: runs and their step graphs, audits with their failing rows and kept
WAP branches, a dates x status grid per workflow, tables (schema, partitions,
snapshots, a paged preview, a chart builder drawn by the vendored Vega-Lite),
saved dashboards, lineage, migrations, key-value versions and streams. Every
page is JSON too (`Accept: application/json`). Reading needs no token; actions
(rerun a date, roll a KV alias back, save a chart) need `TOWPATH_UI_TOKEN`,
checked the way `towpath kv serve` checks its token.
"""

from towpath.ui.app import create_app
from towpath.ui.config import UiAuthError, UiConfig, UiError, UiInputError, check_config
from towpath.ui.server import serve

__all__ = ["UiAuthError", "UiConfig", "UiError", "UiInputError", "check_config", "create_app", "serve"]
