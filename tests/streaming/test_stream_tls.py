"""SSL against a real TLS terminator (stunnel) in front of Tansu: server verification and client certificates.

SASL is not tested against a broker (none here checks credentials): the
settings are checked to reach librdkafka unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stream_data import new_topic, orders, write_spec

import services
from towpath.project import Project
from towpath.streaming import RunOptions, StreamError, StreamJob, client_config, load_stream_spec


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[services.KafkaBroker, int, services.Certificates]]:
    certs = services.make_certificates(tmp_path_factory.mktemp("certs"))
    tls_port = services.free_port()
    with services.kafka_broker(advertised_port=tls_port) as broker, \
            services.tls_terminator(broker.port, certs, client_auth=True, port=tls_port):
        broker.client = {"bootstrap.servers": f"127.0.0.1:{tls_port}", "security.protocol": "SSL",
                         "ssl.ca.location": str(certs.ca), "ssl.certificate.location": str(certs.client_cert),
                         "ssl.key.location": str(certs.client_key)}
        yield broker, tls_port, certs


def run(project: Project, path: Path) -> int:
    job = StreamJob(load_stream_spec(path), path.parent, project.catalog, project.state)
    return job.run(RunOptions(until_caught_up=True, handle_signals=False)).messages


def test_ssl_with_a_custom_ca_and_a_client_certificate(project: Project, tls_broker) -> None:  # type: ignore[no-untyped-def]
    broker, tls_port, certs = tls_broker
    topic = new_topic("tls")
    broker.create_topic(topic)
    broker.produce(topic, orders(30))
    security = {"protocol": "SSL", "ca": str(certs.ca), "cert": str(certs.client_cert), "key": str(certs.client_key)}
    path = write_spec(project.root, f"127.0.0.1:{tls_port}", topic,
                      source={"bootstrap_servers": f"127.0.0.1:{tls_port}", "topics": [topic], "security": security})
    assert run(project, path) == 30
    assert project.catalog.read(f"lake.{topic.replace('-', '_')}").num_rows == 30


@pytest.mark.parametrize("case", ["no client certificate", "client certificate of another CA", "server of another CA"])
def test_ssl_refusals(project: Project, tls_broker, case: str) -> None:  # type: ignore[no-untyped-def]
    broker, tls_port, certs = tls_broker
    topic = new_topic("tls")
    broker.create_topic(topic)
    security: dict[str, object] = {"protocol": "SSL", "ca": str(certs.ca)}
    if case == "client certificate of another CA":
        security.update(cert=str(certs.rogue_cert), key=str(certs.rogue_key))
    if case == "server of another CA":
        security.update(ca=str(certs.other_ca), cert=str(certs.client_cert), key=str(certs.client_key))
    source = {"bootstrap_servers": f"127.0.0.1:{tls_port}", "topics": [topic], "security": security,
              "connect_timeout_s": 2}
    path = write_spec(project.root, f"127.0.0.1:{tls_port}", topic, source=source)
    with pytest.raises(StreamError, match=r"cannot reach Kafka at 127\.0\.0\.1:\d+ with security protocol SSL"):
        run(project, path)
    assert not project.catalog.exists(f"lake.{topic.replace('-', '_')}")


def test_sasl_settings_reach_librdkafka(project: Project) -> None:
    path = write_spec(project.root, "broker:9094", "t", source={
        "bootstrap_servers": "broker:9094", "topics": ["t"],
        "security": {"protocol": "SASL_SSL", "sasl": {"mechanism": "SCRAM-SHA-512", "username": "u", "password": "p"}},
        "settings": {"client.id": "lake-loader"},
    })
    conf = client_config(load_stream_spec(path), path.parent)
    assert {k: conf[k] for k in ("security.protocol", "sasl.mechanism", "sasl.username", "sasl.password",
                                 "client.id")} == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "u",
        "sasl.password": "p", "client.id": "lake-loader"}
    from confluent_kafka import Consumer

    Consumer(conf).close()  # librdkafka accepts every setting (it raises on an unknown or invalid one)


def test_sasl_without_credentials_is_a_spec_error(project: Project) -> None:
    from towpath.errors import SpecError

    path = write_spec(project.root, "b:1", "t", source={"bootstrap_servers": "b:1", "topics": ["t"],
                                                      "security": {"protocol": "SASL_PLAINTEXT"}})
    with pytest.raises(SpecError, match=r"source.security: .*needs `sasl"):
        load_stream_spec(path)
