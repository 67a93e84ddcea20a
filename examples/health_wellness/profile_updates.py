"""Step 4's script: profile changes in MariaDB while CDC runs (what the clinic's systems do all day).

Each round is one transaction of a few changes to `health.patients`: a new
diagnosis added to a patient's conditions, a plan change, a move to another
state, now and then a new patient, and a closed account deleted. The same seed
gives the same changes.
"""

from __future__ import annotations

import datetime as dt
import random

from examples.health_wellness.data import CONDITIONS, PLANS, STATES
from examples.health_wellness.setup import SCHEMA, Database


def update_profiles(db: Database, *, rounds: int = 60, seed: int = 5) -> int:
    """Run `rounds` transactions of profile changes; returns how many rows they changed."""
    import pymysql

    rand = random.Random(seed)
    changed = 0
    conn = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password, database=SCHEMA)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT max(patient_id) FROM patients")
        (top,) = cur.fetchone() or (0,)
        for _ in range(rounds):
            now = dt.datetime.now()
            for _ in range(rand.randint(1, 4)):
                patient, what = rand.randint(1, top), rand.random()
                if what < 0.4:
                    condition = rand.choice([c for c in CONDITIONS if c])
                    changed += cur.execute(
                        "UPDATE patients SET conditions = TRIM(BOTH ',' FROM CONCAT_WS(',', NULLIF(conditions, ''), %s)),"
                        " updated_at = %s WHERE patient_id = %s AND FIND_IN_SET(%s, conditions) = 0",
                        (condition, now, patient, condition))
                elif what < 0.7:
                    changed += cur.execute("UPDATE patients SET plan = %s, updated_at = %s WHERE patient_id = %s",
                                           (rand.choice(PLANS), now, patient))
                elif what < 0.85:
                    changed += cur.execute("UPDATE patients SET state = %s, updated_at = %s WHERE patient_id = %s",
                                           (rand.choice(STATES), now, patient))
                elif what < 0.95:
                    top += 1
                    changed += cur.execute(
                        "INSERT INTO patients (patient_id, name, birth_date, state, plan, conditions, email, updated_at)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (top, f"New Patient {top}", dt.date(1960 + rand.randint(0, 40), 1, 1), rand.choice(STATES),
                         rand.choice(PLANS), rand.choice(CONDITIONS), f"new{top}@example.com", now))
                else:
                    changed += cur.execute("DELETE FROM patients WHERE patient_id = %s", (patient,))
            conn.commit()
    return changed
