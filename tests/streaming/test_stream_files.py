"""The files sink: Parquet/CSV under a local folder or s3:// (moto), hive-style partitions, dead letters to files,
exactly-once through kill -9; and CSV headers taken from the first message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
from stream_data import new_topic, orders, write_spec

import services
from towpath.project import Project
from towpath.streaming import RunOptions, StreamJob, StreamStats, load_stream_spec, stream_status

SRC = str(Path(__file__).resolve().parents[2] / "src")


def run(project: Project, path: Path) -> StreamStats:
    job = StreamJob(load_stream_spec(path), path.parent, project.catalog, project.state)
    return job.run(RunOptions(until_caught_up=True, handle_signals=False))


def committed(root: str, fs: pafs.FileSystem | None = None, fmt: str = "parquet") -> pa.Table:
    """What a reader listing the data files sees (hive partitions from the folder names)."""
    dataset = ds.dataset(root, filesystem=fs, format=fmt, partitioning="hive")
    return dataset.to_table()


def data_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and "_towpath" not in p.parts)


def test_parquet_files_in_hive_folders_with_dead_letters_and_offsets(
    project: Project, kafka_broker: services.KafkaBroker
) -> None:
    topic = new_topic("files")
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, orders(120, bad_every=40), partitions=2)
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic,
                      sink={"path": "lake/orders", "format": "parquet", "partition_by": ["country", "days(created_at)"]})
    stats = run(project, path)
    assert (stats.messages, stats.rows, stats.dead_letters) == (120, 117, 3)
    root = project.root / "lake" / "orders"
    folders = sorted({p.parent.relative_to(root).as_posix() for p in data_files(root)})
    assert folders == [f"country=NL/created_at_day=2024-01-0{d}" for d in (1, 2, 3)]
    rows = committed(str(root))
    assert sorted(rows.column("id").to_pylist()) == [i for i in range(120) if i % 40 != 39]
    assert set(rows.column("country").to_pylist()) == {"NL"}
    dead = committed(str(project.root / "lake" / "orders_dead_letters"))
    assert sorted(dead.column("raw").to_pylist()) == sorted(b'{"id": %d, "amount": ' % i for i in (39, 79, 119))
    assert {o.next_offset for o in project.state.offsets.of_stream(topic)} == {60}
    assert not list((root / "_towpath").rglob("*.tmp"))
    # a rerun reads only what is new; a new field is a new column of the later files
    kafka_broker.produce(topic, [b'{"id": 500, "country": "DE", "created_at": "2024-01-05T00:00:00Z", "coupon": "X"}'])
    again = run(project, path)
    assert again.messages == 1
    rows = committed(str(root))
    assert rows.num_rows == 118 and rows.filter(pa.compute.equal(rows["id"], 500))["coupon"].to_pylist() == ["X"]
    status = stream_status(load_stream_spec(path), path.parent, project.catalog, project.state)
    assert status.table == "lake/orders" and status.lag == 0
    assert [p.dead_letters for p in status.partitions] == [0, 3]


def test_csv_files_on_s3_with_a_header_from_the_first_message(
    project: Project, kafka_broker: services.KafkaBroker, s3_server: str
) -> None:
    import boto3

    boto3.client("s3").create_bucket(Bucket="lake")
    topic = new_topic("csvhead")
    kafka_broker.create_topic(topic)
    lines = [b"id,country,amount", b"1,NL,10.5", b"2,DE,7", b"id,country,amount", b"3,BE,x,extra", b"4,US,2.25"]
    kafka_broker.produce(topic, lines)
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic, format={"type": "csv", "header": "first_message"},
                      event_time=None, sink={"path": "s3://lake/orders", "format": "csv"})
    stats = run(project, path)
    assert (stats.messages, stats.rows, stats.dead_letters) == (6, 3, 1)  # two header lines skipped
    fs = pafs.S3FileSystem(endpoint_override=s3_server.removeprefix("http://"), scheme="http", region="us-east-1")
    rows = committed("lake/orders", fs, "csv")
    assert sorted(rows.column("id").to_pylist()) == [1, 2, 4] and rows.column_names == ["id", "country", "amount"]
    [dead] = committed("lake/orders_dead_letters", fs).to_pylist()
    assert dead["raw"] == b"3,BE,x,extra" and dead["offset"] == 4 and "columns" in dead["error"]
    staged = fs.get_file_info(pafs.FileSelector("lake/orders/_towpath", recursive=True, allow_not_found=True))
    assert [i.path for i in staged if i.type == pafs.FileType.File] == []
    # the header is recorded with the sink: a later run decodes with it even if the first message were gone
    kafka_broker.produce(topic, [b"5,FR,1"])
    assert run(project, path).rows == 1
    assert project.state.offsets.sink_meta(topic)["csv_header"] == '["id", "country", "amount"]'


def test_csv_header_none_and_a_header_list(project: Project, kafka_broker: services.KafkaBroker) -> None:
    topic = new_topic("csvnone")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [b"1;NL", b"2;DE", b"oops"])
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic, event_time=None,
                      format={"type": "csv", "header": "none", "delimiter": ";"}, sink={"path": "out"})
    stats = run(project, path)
    assert (stats.rows, stats.dead_letters) == (2, 1)
    assert committed(str(project.root / "out")).column_names == ["f0", "f1"]
    # the header as a list, with explicit (Spark-typed) columns and a required one
    listed = write_spec(project.root, kafka_broker.bootstrap_servers, topic, name=f"{topic}-listed", event_time=None,
                        format={"type": "csv", "columns": ["id", "country"], "delimiter": ";"},
                        schema=[{"name": "id", "type": "bigint", "required": True}, {"name": "country", "type": "string"}],
                        sink={"path": "listed"})
    stats = run(project, listed)
    assert (stats.rows, stats.dead_letters) == (2, 1)
    rows = committed(str(project.root / "listed"))
    assert rows.schema.field("id").type == pa.int64() and rows.column("id").to_pylist() == [1, 2]


def test_a_csv_format_needs_a_header_or_columns(project: Project) -> None:
    from towpath.errors import SpecError

    path = write_spec(project.root, "127.0.0.1:1", "t", format={"type": "csv"}, sink={"path": "out"})
    with pytest.raises(SpecError, match="columns.*header: first_message"):
        load_stream_spec(path)
    path = write_spec(project.root, "127.0.0.1:1", "t", sink={"path": "out", "table": "lake.t"})
    with pytest.raises(SpecError, match="exactly one of `table`"):
        load_stream_spec(path)
    path = write_spec(project.root, "127.0.0.1:1", "t", sink={"path": "out", "partition_by": ["bucket(4, id)"]})
    with pytest.raises(SpecError, match="partition_by 'bucket"):
        load_stream_spec(path)


def start(project: Project, path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "towpath.cli.main", "-C", str(project.root), "stream", "run", str(path),
         "--until-caught-up"],
        env={**os.environ, "PYTHONPATH": SRC, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def test_kill_9_while_staging_and_between_file_moves_leaves_exactly_n(
    project: Project, kafka_broker: services.KafkaBroker, tmp_path: Path
) -> None:
    from test_stream_faults import wait_for

    n, bad_every = 600, 100
    topic = new_topic("filefaults")
    kafka_broker.create_topic(topic, partitions=3)
    kafka_broker.produce(topic, orders(n, bad_every=bad_every), partitions=3)
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic, window={"duration": "0.2s", "max_rows": 50},
                      sink={"path": "lake/o", "partition_by": ["days(created_at)"]})
    marker = tmp_path / "paused"
    root = project.root / "lake" / "o"
    for pause in ("files-staged", "between-file-moves", "between-file-moves"):
        marker.unlink(missing_ok=True)
        proc = start(project, path, {"TOWPATH_DEBUG_PAUSE": pause, "TOWPATH_DEBUG_PAUSE_FILE": str(marker)})
        wait_for(lambda p=proc: marker.exists() or p.poll() is not None, 60, f"the job to reach {pause}")
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        # what a reader lists now holds no message twice
        if data_files(root):
            ids = committed(str(root)).column("id").to_pylist()
            assert len(ids) == len(set(ids))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    if pause == "between-file-moves":
        assert project.state.offsets.pending_windows(topic), "the kill left a committed window half moved"
    final = start(project, path)
    _, err = final.communicate(timeout=180)
    assert final.returncode == 0, err.decode()[-3000:]
    ids = committed(str(root)).column("id").to_pylist()
    assert sorted(ids) == [i for i in range(n) if i % bad_every != bad_every - 1]
    dead = committed(str(project.root / "lake" / "o_dead_letters"))
    assert sorted(dead.column("offset").to_pylist()) == sorted(i // 3 for i in range(n) if i % bad_every == 99)
    assert project.state.offsets.pending_windows(topic) == []
    assert not [p for p in (root / "_towpath").rglob("*") if p.is_file()]


def test_a_second_files_worker_on_the_same_partitions_is_fenced(
    project: Project, kafka_broker: services.KafkaBroker
) -> None:
    from towpath.streaming import StreamFencedError

    topic = new_topic("filefence")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, orders(20))
    path = write_spec(project.root, kafka_broker.bootstrap_servers, topic, sink={"path": "lake/f"})
    stale = StreamJob(load_stream_spec(path), path.parent, project.catalog, project.state)
    # what a live run of the same worker has staged stays; what a run that is gone left is deleted
    live = project.state.start_run(f"stream:{topic}", kind="stream")
    workspace = project.root / "lake" / "f" / "_towpath" / "staging" / topic
    import hashlib

    worker = hashlib.sha256(f"{topic}/0".encode()).hexdigest()[:12]
    for run_id in (live, "gone-run"):
        (workspace / worker / run_id).mkdir(parents=True)
        (workspace / worker / run_id / "w-0000.parquet.tmp").write_bytes(b"staged")
    run(project, path)  # another instance commits the partition first (offset 20)
    assert (workspace / worker / live / "w-0000.parquet.tmp").exists()
    assert not (workspace / worker / "gone-run" / "w-0000.parquet.tmp").exists()
    (workspace / worker / live / "w-0000.parquet.tmp").unlink()
    # the stale worker still believes the partition was never committed: its window is refused, nothing stays
    with pytest.raises(StreamFencedError, match="fenced"):
        stale.sink.commit("w", pa.table({"id": [1]}), pa.table({}), {f"{topic}/0": 0}, {f"{topic}/0": None},
                          {f"{topic}/0": 5})
    assert sorted(committed(str(project.root / "lake" / "f")).column("id").to_pylist()) == list(range(20))
    assert [(o.partition, o.next_offset) for o in project.state.offsets.of_stream(topic)] == [(0, 20)]
    assert not [p for p in (project.root / "lake" / "f" / "_towpath").rglob("*") if p.is_file()]
