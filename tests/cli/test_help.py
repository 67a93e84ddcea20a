"""`towpath --help` stays light: no heavy module is imported until a command needs it.

The time itself is measured in benchmarks/bench_cli_help.py, not here.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = {"pyarrow", "duckdb", "pyiceberg", "rich", "pydantic", "sqlglot", "ruamel", "numpy"}

PROBE = f"""
import sys
from towpath.cli.main import main
try:
    main(["--help"])
except SystemExit:
    pass
print(",".join(sorted({{m.split(".")[0] for m in sys.modules}} & {HEAVY!r})), file=sys.stderr)
"""


def test_help_imports_no_heavy_module() -> None:
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert "Exit codes:" in probe.stdout
    assert probe.stderr.strip() == ""
