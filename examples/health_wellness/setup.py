"""One call sets the example up: the EHR/claims database in MariaDB, claim history in the lake,
device summaries in the KV store, and a towpath project whose `connections:` name them (and
whose `cdc/patients.cdc.yaml` streams the profiles into the lake and the search index).

    setup(project_dir, Database(host, port, user, password))

The database user's password goes to `.secrets/ehr_password` (mode 600), which
`towpath.yaml` names as `password: {file: .secrets/ehr_password}`: the secret is
never in the YAML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from examples.health_wellness.data import HealthData, generate

from towpath.project import Project

SCHEMA = "health"
"""The MariaDB database holding `patients` and `claims`."""

CDC_SPEC = Path(__file__).with_name("patients.cdc.yaml")
"""Step 3's change-data-capture job, copied into the project as `cdc/patients.cdc.yaml`."""

DEVICE_NAMESPACE = "device_daily"
"""The KV namespace of one device summary per patient (key: `patient_id`)."""

DDL = {
    "patients": """CREATE TABLE patients (
        patient_id INT PRIMARY KEY, name VARCHAR(80) NOT NULL, birth_date DATE, state CHAR(2), plan VARCHAR(10),
        conditions VARCHAR(80) NOT NULL DEFAULT '', email VARCHAR(120), updated_at DATETIME(6))""",
    "claims": """CREATE TABLE claims (
        claim_id INT PRIMARY KEY, patient_id INT NOT NULL, claim_date DATE NOT NULL, kind VARCHAR(12),
        diagnosis VARCHAR(8), amount DECIMAL(10, 2), status VARCHAR(10), KEY (patient_id))""",
}

LAKE_DDL = """CREATE TABLE claims.history (
    patient_id INT COMMENT 'patient', year INT, claims INT, er_visits INT, paid DOUBLE
) USING iceberg PARTITIONED BY (year)"""


@dataclass(frozen=True)
class Database:
    """Where the MariaDB (or MySQL) server of the example is, and an account that may create `health`."""

    host: str
    port: int
    user: str
    password: str

    @property
    def dsn(self) -> str:
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}/{SCHEMA}"


def project_yaml(db: Database) -> str:
    return f"""# The health-and-wellness example (examples/health_wellness/README.md).
name: health-wellness
connections:
  ehr:                                   # patient profiles and claims: SELECT ... FROM ehr.patients
    type: mariadb
    host: {db.host}
    port: {db.port}
    user: {db.user}
    password: {{file: .secrets/ehr_password}}
    database: {SCHEMA}
  devices:                               # device summaries: SELECT ... FROM devices.daily
    type: kv
    url: embedded
    tables:
      daily: {{namespace: {DEVICE_NAMESPACE}, schema: kv/{DEVICE_NAMESPACE}.schema.json}}
"""


def setup(root: Path | str, db: Database, *, patients: int = 2000, seed: int = 11) -> tuple[Project, HealthData]:
    """Create (or re-create) every store of the example with synthetic data; the project and the data."""
    root = Path(root).resolve()
    data = generate(patients, seed=seed)
    project = Project.init(root, name="health-wellness", exist_ok=True)
    secrets = root / ".secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "ehr_password").write_text(db.password + "\n")
    (secrets / "ehr_password").chmod(0o600)
    (root / ".gitignore").write_text(".towpath/\n.secrets/\n")
    (root / "towpath.yaml").write_text(project_yaml(db))
    (root / "cdc").mkdir(exist_ok=True)
    (root / "cdc" / "patients.cdc.yaml").write_text(CDC_SPEC.read_text())
    load_database(db, data)
    project = Project(root)
    load_lake(project, data.claim_history)
    load_devices(project, data.devices)
    return project, data


def load_database(db: Database, data: HealthData) -> None:
    """`health.patients` and `health.claims`, re-created and loaded through towpath's MySQL sink."""
    import pymysql

    from towpath.connectors import MySqlSink
    from towpath.pipeline import ProcessorContext

    conn = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password, autocommit=True)
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {SCHEMA}")
        cur.execute(f"USE {SCHEMA}")
        for table, ddl in DDL.items():
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(ddl)
    for table, rows in (("patients", data.patients), ("claims", data.claims)):
        sink = MySqlSink(db.dsn, table, create=False)
        sink.open(ProcessorContext(name=f"load {table}"))
        for batch in rows.to_batches(max_chunksize=50_000):
            sink.write(batch)
        sink.close(None)


def load_lake(project: Project, history: pa.Table) -> None:
    """`claims.history` in the project's Iceberg catalog (partitioned by year), replaced by this load."""
    if project.catalog.exists("claims.history"):
        project.catalog.iceberg.drop_table("claims.history")
    project.engine.run_script(LAKE_DDL)
    project.engine.write("claims.history", history, mode="append")


def load_devices(project: Project, devices: pa.Table) -> None:
    """The device summaries as a KV namespace keyed by `patient_id`, encoded with its generated schema.

    The schema (`towpath.protobuf`, what `towpath move` generates) is kept as JSON
    next to the store, where the `devices` connection of towpath.yaml finds it.
    """
    from towpath.kv import open_store
    from towpath.protobuf import Encoder, generate_schema

    schema = generate_schema(devices.schema, ["patient_id"], package="health.devices")
    folder = project.root / "kv"
    folder.mkdir(exist_ok=True)
    (folder / f"{DEVICE_NAMESPACE}.schema.json").write_text(json.dumps(schema.to_json(), indent=2) + "\n")
    encoder = Encoder(schema)
    with open_store("embedded", root=project.root) as store:
        if DEVICE_NAMESPACE in store.namespaces():
            store.drop_namespace(DEVICE_NAMESPACE)
        store.create_namespace(DEVICE_NAMESPACE)
        for batch in devices.to_batches(max_chunksize=50_000):
            store.put_batch(DEVICE_NAMESPACE, encoder.encode_keys(batch), encoder.encode_values(batch))
