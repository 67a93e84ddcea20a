"""`python -m examples.health_wellness [--patients N] [--dir DIR]`: the post's example, runnable.

Starts a throwaway MariaDB (from Debian's `mariadb-server`, as the tests do), sets
every store up with synthetic data (`setup.py`) and runs the federated urgent-care
query (`urgent_care.sql`) through `towpath query`'s Python front door. The later
steps of README.md (change data capture, search) run on the project it leaves.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # tests/services starts the throwaway MariaDB

from examples.health_wellness.setup import Database, setup

import services

URGENT_SQL = Path(__file__).with_name("urgent_care.sql")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="project folder (default: a temporary one)")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="health-wellness-")) / "project"
    with services.mysql_server() as server:
        db = Database(server.host, server.port, server.user, server.password)
        project, data = setup(folder, db, patients=args.patients)
        print(f"set up {folder}: {data.patients.num_rows} patients and {data.claims.num_rows} claims in MariaDB, "
              f"{data.claim_history.num_rows} history rows in the lake, {data.devices.num_rows} device summaries in KV")
        urgent = project.query(URGENT_SQL.read_text())
        print(f"\n{urgent.num_rows} patients need urgent care:")
        from towpath.cli import render

        shown = ["patient_id", "name", "conditions", "resting_pulse", "sleep_hours", "er_claims_30d"]
        render.arrow_table(urgent.select(shown), limit=urgent.num_rows)


if __name__ == "__main__":
    main()
