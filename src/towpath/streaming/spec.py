"""The `*.stream.yaml` job: where to read, how to decode, how to window, where to write, what to alert on.

Example (`orders.stream.yaml`)::

    name: orders
    source:
      bootstrap_servers: broker-1:9093
      topics: [orders]
      security: {protocol: SSL, ca: certs/ca.pem, cert: certs/client.pem, key: certs/client.key}
      start: earliest
    format: {type: json}                  # or {type: csv, header: first_message}
    schema: detect
    event_time: created_at
    window: {duration: 100s, max_rows: 100000}
    sink: {table: lake.orders, partition_by: ["days(created_at)"]}   # or {path: s3://lake/orders, format: parquet}
    alerts:
      - {name: big, when: "amount > 10000", notify: "https://hooks.example.com/x", sample: 5}
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from towpath.config import Spec, invalid, load_spec
from towpath.config.params import parse_duration
from towpath.errors import ParameterError

MB = 1024 * 1024


def _check_duration(value: str) -> str:
    try:
        parse_duration(value)
    except ParameterError as err:
        raise invalid(err.msg) from None
    return value


class SaslConfig(Spec):
    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    username: str
    password: str


class SecurityConfig(Spec):
    """How the client authenticates and encrypts; maps onto librdkafka's `security.protocol` and `ssl.*`/`sasl.*`."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"] = "PLAINTEXT"
    ca: str | None = None
    """PEM file of the CA that signed the brokers' certificates (the self-hosted cluster's own CA)."""
    cert: str | None = None
    """Client certificate (PEM) for client authentication (mTLS)."""
    key: str | None = None
    key_password: str | None = None
    verify_hostname: bool = True
    sasl: SaslConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SecurityConfig:
        if self.protocol.startswith("SASL") and self.sasl is None:
            raise ValueError(f"protocol {self.protocol} needs `sasl: {{mechanism, username, password}}`")
        if not self.protocol.startswith("SASL") and self.sasl is not None:
            raise ValueError(f"`sasl` is only used with SASL_SSL or SASL_PLAINTEXT, not {self.protocol}")
        if (self.cert is None) != (self.key is None):
            raise ValueError("client authentication needs both `cert` and `key`")
        return self


class SourceConfig(Spec):
    bootstrap_servers: str
    topics: list[str] | None = None
    topic_pattern: str | None = None
    """A regular expression; every matching topic is read (checked when the job starts)."""
    security: SecurityConfig = SecurityConfig()
    settings: dict[str, str | int | bool] = Field(default_factory=dict)
    """Extra librdkafka settings, passed through unchanged (`fetch.max.bytes`, `client.rack`, ...)."""
    start: str = "earliest"
    """Where a partition this job never committed starts: `earliest`, `latest` or an ISO timestamp."""
    connect_timeout_s: float = Field(default=15.0, gt=0)
    """How long to wait for the brokers' metadata before giving up (a wrong address, a refused certificate)."""
    group_id: str | None = None
    """Consumer group the committed offsets are mirrored to, for monitoring tools (default: `towpath-<name>`)."""

    @model_validator(mode="after")
    def _topics(self) -> SourceConfig:
        if bool(self.topics) == bool(self.topic_pattern):
            raise ValueError("give exactly one of `topics` (a list of names) or `topic_pattern` (a regex)")
        if self.topic_pattern is not None:
            try:
                re.compile(self.topic_pattern)
            except re.error as exc:
                raise ValueError(f"topic_pattern is not a regular expression: {exc}") from None
        return self

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        if value not in ("earliest", "latest"):
            try:
                start_timestamp(value)
            except ValueError:
                raise ValueError(f"expected earliest, latest or an ISO timestamp, got '{value}'") from None
        return value


def start_timestamp(value: str) -> dt.datetime:
    """An ISO timestamp (UTC unless it says otherwise)."""
    stamp = dt.datetime.fromisoformat(value)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


class JsonFormat(Spec):
    type: Literal["json"]


class CsvFormat(Spec):
    type: Literal["csv"]
    delimiter: str = ","
    columns: list[str] | None = None
    """The header as a list: column names of each message's fields, in order."""
    header: Literal["first_message", "none"] | None = None
    """`first_message`: the column names are the first message of the topic (the earliest message of its first
    partition, read once and recorded with the sink, so retention deleting it later changes nothing); any message
    equal to that header line is skipped (a producer that writes a header per partition or per restart).
    `none`: no header, the columns are named `f0`, `f1`, ... Give either this or `columns`."""

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError(f"delimiter must be one character, got {value!r}")
        return value

    @model_validator(mode="after")
    def _header(self) -> CsvFormat:
        if (self.columns is None) == (self.header is None):
            raise ValueError("give either `columns: [a, b, ...]` (the header list) or `header: first_message` "
                             "(or `header: none`: columns f0, f1, ...)")
        return self

    def with_columns(self, columns: list[str]) -> CsvFormat:
        """This format with the header resolved to `columns`."""
        return CsvFormat(type="csv", delimiter=self.delimiter, columns=columns)


Format = Annotated[JsonFormat | CsvFormat, Field(discriminator="type")]


class ColumnSpec(Spec):
    name: str
    type: str
    """Spark SQL type (`bigint`, `string`, `timestamp`, `decimal(10,2)`, `struct<a:int>`)."""
    required: bool = False
    """A message without it (or with null) is a dead letter."""


class WindowConfig(Spec):
    duration: str = "100s"
    max_rows: int = Field(default=100_000, ge=1)
    max_bytes: int = Field(default=64 * MB, ge=1024)

    _check = field_validator("duration")(classmethod(lambda cls, v: _check_duration(v)))

    @property
    def seconds(self) -> float:
        return parse_duration(self.duration).total_seconds()


class TransformConfig(Spec):
    """Either one SQL statement, or casts / renames / derived columns / a filter (compiled to one SELECT)."""

    sql: str | None = None
    """A Spark SQL SELECT over the table `window` (the decoded messages), run by DuckDB per window."""
    casts: dict[str, str] = Field(default_factory=dict)
    """Column -> Spark SQL type (`amount: decimal(12,2)`); a value that does not cast becomes null."""
    renames: dict[str, str] = Field(default_factory=dict)
    """Column -> new name."""
    derive: dict[str, str] = Field(default_factory=dict)
    """New column -> Spark SQL expression over the message fields (`cents: amount * 100`)."""
    filter: str | None = None
    """Keep only the messages for which this Spark SQL predicate holds."""

    @model_validator(mode="after")
    def _one_way(self) -> TransformConfig:
        import sqlglot

        steps = bool(self.casts or self.renames or self.derive or self.filter)
        if (self.sql is None) == (not steps):
            raise invalid("give either `sql` or any of `casts`, `renames`, `derive`, `filter`")
        for where, text in [("sql", self.sql), ("filter", self.filter), *self.derive.items()]:
            if text is None:
                continue
            try:
                sqlglot.parse_one(text, read="spark")
            except sqlglot.errors.ParseError as exc:
                raise invalid(f"{where}: not valid Spark SQL: {str(exc).splitlines()[0]}") from None
        for column, kind in self.casts.items():
            try:
                sqlglot.exp.DataType.build(kind, dialect="spark")
            except (sqlglot.errors.ParseError, ValueError):
                raise invalid(f"casts.{column}: '{kind}' is not a Spark SQL type") from None
        return self

    def select(self, columns: list[str]) -> str:
        """The DuckDB statement over `window` with these input columns."""
        import sqlglot
        from sqlglot import exp

        if self.sql is not None:
            return sqlglot.transpile(self.sql, read="spark", write="duckdb")[0]
        projections: list[exp.Expr] = []
        for name in columns:
            value: exp.Expr = exp.column(name, quoted=True)
            if name in self.casts:
                value = exp.TryCast(this=value, to=exp.DataType.build(self.casts[name], dialect="spark"))
            projections.append(exp.alias_(value, self.renames.get(name, name), quoted=True))
        for name, text in self.derive.items():
            projections.append(exp.alias_(sqlglot.parse_one(text, read="spark"), name, quoted=True))
        query = exp.select(*projections).from_("window")
        if self.filter is not None:
            query = query.where(sqlglot.parse_one(self.filter, read="spark"))
        return query.sql("duckdb")


FILE_TRANSFORMS = ("years", "months", "days", "hours")


class SinkConfig(Spec):
    """An Iceberg table of the catalog (`table`), or Parquet/CSV files under a lake path (`path`)."""

    table: str | None = None
    """`namespace.table` in the project catalog (created from the detected schema if missing)."""
    path: str | None = None
    """A folder (relative to the stream file) or `s3://bucket/prefix`: each window's files, hive-style folders."""
    format: Literal["parquet", "csv"] | None = None
    """The files' format (`path` sinks; default parquet)."""
    partition_by: list[str] = Field(default_factory=list)
    """Spark partition transforms: `days(event_time)`, `bucket(16, id)`, `country`. A `path` sink takes
    columns (`country=NL/` folders) and `years|months|days|hours(column)` (`created_at_day=2024-01-02/`)."""
    dead_letters: str | None = None
    """Dead-letter table (default: `<table>_dead_letters`), or for a `path` sink the folder of the dead-letter
    files (default: `<path>_dead_letters`)."""

    @model_validator(mode="after")
    def _one_target(self) -> SinkConfig:
        if (self.table is None) == (self.path is None):
            raise ValueError("give exactly one of `table` (an Iceberg table) or `path` (a folder or s3:// prefix)")
        if self.format is not None and self.path is None:
            raise ValueError("`format` is for `path` sinks (an Iceberg table's files are Parquet)")
        if self.path is not None:
            for item in self.partition_by:
                match = re.fullmatch(r"\s*(\w+)\s*\(\s*(\w+)\s*\)\s*", item)
                if match and match.group(1).lower() in FILE_TRANSFORMS:
                    continue
                if not re.fullmatch(r"\w+", item.strip()):
                    raise ValueError(f"partition_by '{item}': a path sink takes a column or "
                                     f"{'|'.join(FILE_TRANSFORMS)}(column)")
        return self

    @property
    def dead_letter_table(self) -> str:
        assert self.table is not None, "a path sink has dead-letter files, not a table"
        return self.dead_letters or f"{self.table}_dead_letters"

    @property
    def dead_letter_path(self) -> str:
        assert self.path is not None
        return self.dead_letters or f"{self.path.rstrip('/')}_dead_letters"

    @property
    def target(self) -> str:
        """What the sink writes, as status prints it (the table, or the path)."""
        return self.table if self.table is not None else str(self.path)


class AlertRule(Spec):
    name: str
    when: str
    """A SQL predicate over the window's rows (Spark SQL), e.g. `amount > 10000 AND country = 'NL'`."""
    notify: str = "log"
    """`log`, a webhook URL (`https://...`), or `project`: every channel of towpath.yaml's `notifications:`
    that accepts `alert` notices (SMTP, webhooks, an outbox folder, ...)."""
    sample: int = Field(default=5, ge=0)
    """How many matching rows the notification carries."""


class CompactionConfig(Spec):
    """When the job compacts its table (and expires old snapshots) between windows.

    By wall time, not by window count: a window closes on its row bound many
    times a second on a busy topic, and each compaction re-reads the partitions
    it rewrites, so a window-count cadence would spend more on compaction the
    faster the stream runs. The clock is the table's: the time since its last
    compaction (or, never compacted, its oldest snapshot), so short
    `--until-caught-up` runs of a daily workflow compact too, once it is due.
    """

    interval: str | None = "10m"
    """Compact at the first window after this long since the table's last compaction (null: never by time)."""
    every: int | None = Field(default=None, ge=1)
    """Also compact every this many windows of a run."""
    enabled: bool = True

    _check = field_validator("interval")(classmethod(lambda cls, v: v if v is None else _check_duration(v)))

    @property
    def interval_s(self) -> float | None:
        return None if self.interval is None else parse_duration(self.interval).total_seconds()


class StreamSpec(Spec):
    name: str
    source: SourceConfig
    format: Format = JsonFormat(type="json")
    key_column: str | None = None
    """Keep each message's key (as a string) in this column."""
    schema_: Literal["detect"] | list[ColumnSpec] = Field("detect", alias="schema")
    detect_messages: int = Field(default=1000, ge=1)
    """How many messages schema detection looks at."""
    event_time: str | None = None
    """The event-time column (`kafka_timestamp`: the message timestamp, added as a column of that name)."""
    transform: TransformConfig | None = None
    window: WindowConfig = WindowConfig()
    sink: SinkConfig
    timeout: str | None = None
    """Stop cleanly after this long (the Glue job timeout)."""
    alerts: list[AlertRule] = Field(default_factory=list)
    compaction: CompactionConfig = CompactionConfig()

    _check = field_validator("timeout")(classmethod(lambda cls, v: v if v is None else _check_duration(v)))

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
            raise ValueError(f"a stream name is letters, digits, '_', '.', '-' (it names offsets), got '{value}'")
        return value


def load_stream_spec(path: Path | str) -> StreamSpec:
    """Load a `*.stream.yaml` file; every mistake is a `SpecError` at its file:line:column."""
    return load_spec(StreamSpec, path)


