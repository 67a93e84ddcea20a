"""`python -m examples.health_wellness [--patients N] [--dir DIR]`: the post's example, runnable.

Starts a throwaway MariaDB with its binlog on (from Debian's `mariadb-server`, as
the tests do), sets every store up with synthetic data (`setup.py`), runs the
federated urgent-care query (`urgent_care.sql`), then the CDC job
(`patients.cdc.yaml`) while `profile_updates.py` changes profiles, and searches
the patient index, each through towpath's Python front doors (README.md shows the
same steps as `towpath` commands).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # tests/services starts the throwaway MariaDB

from examples.health_wellness.profile_updates import update_profiles
from examples.health_wellness.setup import Database, setup

import services

URGENT_SQL = Path(__file__).with_name("urgent_care.sql")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="project folder (default: a temporary one)")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="health-wellness-")) / "project"
    with services.mysql_server(binlog=True) as server:
        db = Database(server.host, server.port, server.user, server.password)
        project, data = setup(folder, db, patients=args.patients)
        print(f"set up {folder}: {data.patients.num_rows} patients and {data.claims.num_rows} claims in MariaDB, "
              f"{data.claim_history.num_rows} history rows in the lake, {data.devices.num_rows} device summaries in KV")
        urgent = project.query(URGENT_SQL.read_text())
        print(f"\n{urgent.num_rows} patients need urgent care:")
        from towpath.cli import render

        shown = ["patient_id", "name", "conditions", "resting_pulse", "sleep_hours", "er_claims_30d"]
        render.arrow_table(urgent.select(shown), limit=urgent.num_rows)
        cdc_and_search(project.root, db)


def cdc_and_search(root: Path, db: Database) -> None:
    """Steps 3-5: snapshot, stream while profiles change, catch up, then search the index."""
    from towpath.cdc import load_cdc_spec, run_cdc
    from towpath.cli import render
    from towpath.project import Project
    from towpath.search import open_index

    project = Project(root)
    spec = load_cdc_spec(root / "cdc" / "patients.cdc.yaml")
    first = run_cdc(spec, catalog=project.catalog, root=root, until_caught_up=True)
    print(f"\nstep 3: {first.snapshot_rows} profiles snapshotted into profiles.patients and the index 'patients'")
    stop, results = threading.Event(), []
    job = threading.Thread(target=lambda: results.append(
        run_cdc(spec, catalog=project.catalog, root=root, stop=stop)))
    job.start()
    changed = update_profiles(db, rounds=60)
    stop.set()
    job.join()
    last = run_cdc(spec, catalog=project.catalog, root=root, until_caught_up=True)
    streamed = results[0].received + last.received
    print(f"step 4: the script changed {changed} rows; CDC applied {streamed} row changes "
          f"(p99 lag {results[0].lag_seconds_p99 or 0:.2f}s), now at {last.applied_position}")
    query, filters = "conditions:diabetes AND state:CA", {"plan": "gold"}
    found = open_index(root, "patients").search(query, filters=filters, limit=20)
    print(f"\nstep 5: towpath search patients {query!r} --filter plan=gold: {found.total} patients")
    render.table([{"key": hit.key, "name": hit.fields.get("name"), "state": hit.fields.get("state"),
                   "plan": hit.fields.get("plan"), "conditions": hit.fields.get("conditions")} for hit in found.hits],
                 ["key", "name", "state", "plan", "conditions"])


if __name__ == "__main__":
    main()
