"""The Kafka client side: librdkafka settings from the spec, which partitions a worker owns, where each starts.

Partitions are assigned directly (never by a consumer-group join): the job's
offsets live in the lake table, a worker's share is fixed by `--worker I/N`,
and a join would only add a rebalance delay. The group id is used solely to
mirror committed offsets for monitoring tools.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from towpath.errors import NotInstalledError
from towpath.streaming.errors import StreamError
from towpath.streaming.spec import SourceConfig, StreamSpec, start_timestamp

METADATA_TIMEOUT_S = 15.0
FETCH_DEFAULTS: dict[str, Any] = {
    "queued.min.messages": 1_000_000,
    "max.partition.fetch.bytes": 4 * 1024 * 1024,
}
"""librdkafka's fetch settings for throughput (any `source.settings` overrides them). With its defaults
(100k queued messages per partition, 1 MiB per partition per fetch) the raw consume loop measured here
read 120-200k msgs/s of 150-byte messages; with these, 330-400k (docs/streaming.md, "Throughput")."""
QUEUE_KBYTES_MAX = 32 * 1024
"""The prefetch queue's cap in KiB (librdkafka's `queued.max.messages.kbytes`, whichever is smaller of this
and the window's `max_bytes`): the queue counts against the memory bound."""


@dataclass(frozen=True, order=True)
class Partition:
    topic: str
    partition: int

    @property
    def key(self) -> str:
        """The position key recorded in the table (`orders/3`)."""
        return f"{self.topic}/{self.partition}"

    @property
    def tp(self) -> tuple[str, int]:
        return self.topic, self.partition

    @classmethod
    def parse(cls, key: str) -> Partition:
        topic, _, number = key.rpartition("/")
        return cls(topic, int(number))


@dataclass(frozen=True)
class Worker:
    """`--worker I/N`: this process owns every partition whose index (in sorted order) is I-1 modulo N."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Worker:
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
            raise StreamError(f"--worker expects I/N with 1 <= I <= N (e.g. 1/2), got '{text}'")
        return cls(int(match.group(1)), int(match.group(2)))

    def owns(self, partitions: list[Partition]) -> list[Partition]:
        return [p for i, p in enumerate(sorted(partitions)) if i % self.count == self.index - 1]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def kafka() -> Any:
    """The confluent_kafka module, or a `NotInstalledError` naming the `stream` extra."""
    try:
        import confluent_kafka
    except ImportError:
        raise NotInstalledError("stream source", "kafka", extra="stream", missing="confluent-kafka") from None
    return confluent_kafka


@dataclass(frozen=True)
class ConsumerSettings:
    """What the consumer settings depend on besides the source: its group and how much it may prefetch."""

    group_id: str
    queue_bytes: int


def client_config(spec: StreamSpec, root: Path) -> dict[str, Any]:
    """librdkafka settings of a stream job (group `towpath-<name>`, prefetch capped at one window's bytes)."""
    group = spec.source.group_id or f"towpath-{spec.name}"
    return consumer_config(spec.source, root, ConsumerSettings(group, spec.window.max_bytes))


def consumer_config(source: SourceConfig, root: Path, settings: ConsumerSettings) -> dict[str, Any]:
    """librdkafka settings: connection, security (SSL files resolved against `root`), pass-through."""
    conf: dict[str, Any] = {
        "bootstrap.servers": source.bootstrap_servers,
        "group.id": settings.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        **FETCH_DEFAULTS,
        # the prefetch queue is part of the memory bound
        "queued.max.messages.kbytes": max(1024, min(QUEUE_KBYTES_MAX, settings.queue_bytes // 1024)),
    }
    conf.update(security_config(source, root))
    conf.update(source.settings)
    return conf


def security_config(source: SourceConfig, root: Path) -> dict[str, Any]:
    security = source.security
    conf: dict[str, Any] = {"security.protocol": security.protocol}
    if security.protocol in ("SSL", "SASL_SSL"):
        for key, value in (("ssl.ca.location", security.ca), ("ssl.certificate.location", security.cert),
                           ("ssl.key.location", security.key)):
            if value is not None:
                path = Path(value) if Path(value).is_absolute() else root / value
                if not path.exists():
                    raise StreamError(f"security: {key.split('.')[1]} file {path} does not exist")
                conf[key] = str(path)
        if security.key_password is not None:
            conf["ssl.key.password"] = security.key_password
        conf["ssl.endpoint.identification.algorithm"] = "https" if security.verify_hostname else "none"
    if security.sasl is not None:
        conf.update({"sasl.mechanism": security.sasl.mechanism, "sasl.username": security.sasl.username,
                     "sasl.password": security.sasl.password})
    return conf


def topic_partitions(consumer: Any, source: SourceConfig) -> list[Partition]:
    """Every partition of the topics the source names (or its pattern matches), sorted."""
    from confluent_kafka import KafkaException

    try:
        metadata = consumer.list_topics(timeout=source.connect_timeout_s)
    except KafkaException as exc:
        raise StreamError(
            f"cannot reach Kafka at {source.bootstrap_servers} with security protocol {source.security.protocol} "
            f"within {source.connect_timeout_s:g}s: {exc.args[0].str()}"
        ) from None
    available = {name: topic for name, topic in metadata.topics.items() if not name.startswith("__")}
    if source.topics:
        missing = [t for t in source.topics if t not in available or available[t].error is not None]
        if missing:
            raise StreamError(
                f"topic(s) {', '.join(missing)} do not exist at {source.bootstrap_servers} "
                f"(topics there: {', '.join(sorted(available)) or 'none'})"
            )
        names = list(source.topics)
    else:
        assert source.topic_pattern is not None
        names = sorted(n for n in available if re.search(source.topic_pattern, n))
        if not names:
            raise StreamError(f"no topic at {source.bootstrap_servers} matches '{source.topic_pattern}'")
    return sorted(Partition(n, p) for n in names for p in available[n].partitions)


def start_offsets(consumer: Any, partitions: list[Partition], start: str) -> dict[Partition, int]:
    """Concrete offsets for partitions the table has no position for: earliest, latest or the first at a time."""
    from confluent_kafka import TopicPartition

    if start in ("earliest", "latest"):
        out = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(p.topic, p.partition), timeout=METADATA_TIMEOUT_S)
            out[p] = low if start == "earliest" else high
        return out
    millis = int(start_timestamp(start).timestamp() * 1000)
    found = consumer.offsets_for_times(
        [TopicPartition(p.topic, p.partition, millis) for p in partitions], timeout=METADATA_TIMEOUT_S
    )
    result = {}
    for p, tp in zip(partitions, found, strict=True):
        if tp.offset < 0:  # nothing at or after the time: the end
            tp.offset = consumer.get_watermark_offsets(TopicPartition(p.topic, p.partition), timeout=METADATA_TIMEOUT_S)[1]
        result[p] = tp.offset
    return result


def end_offsets(consumer: Any, partitions: list[Partition]) -> Mapping[Partition, int]:
    from confluent_kafka import TopicPartition

    return {
        p: consumer.get_watermark_offsets(TopicPartition(p.topic, p.partition), timeout=METADATA_TIMEOUT_S)[1]
        for p in partitions
    }


def first_message(spec: StreamSpec, root: Path, partition: Partition, timeout_s: float = METADATA_TIMEOUT_S) -> bytes | None:
    """The value of `partition`'s earliest message (a CSV header), read by a short-lived consumer of its own;
    None if the partition is empty."""
    module = kafka()
    conf = {**client_config(spec, root), "group.id": f"towpath-{spec.name}-header", "queued.min.messages": 1}
    consumer = module.Consumer(conf)
    try:
        tp = module.TopicPartition(partition.topic, partition.partition)
        low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s)
        if high <= low:
            return None
        consumer.assign([module.TopicPartition(partition.topic, partition.partition, low)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1, timeout=0.5):
                if message.error() is None:
                    value: bytes | None = message.value()
                    return value
        raise StreamError(f"could not read the first message of {partition.key} within {timeout_s:g}s")
    finally:
        consumer.close()
