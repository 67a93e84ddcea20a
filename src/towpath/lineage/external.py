"""Lineage of the jobs that move data between stores: `move` (lake -> KV), `stream` (Kafka -> lake) and
`cdc` (a database table -> lake, KV, search).

Their datasets outside the catalog are named as OpenLineage names them, a
namespace URI plus a name, written `namespace/name`: `kafka://host:9092/orders`,
`redis://host:6379/profiles`, `postgres://host:5432/app.public.patients`,
`mysql://host:3306/crm.patients`. Credentials in a URL are never part of a name.
Stores embedded in the project are `embedded://<project>/<namespace>` (KV) and
`tantivy://<project>/<index>` (search); a stream's files sink is its `s3://` prefix
or `file:///absolute/folder`. Catalog tables stay `db.table` (the project's
`iceberg://` dataset namespace).

The same functions serve a job of a workflow (its `JobType.lineage`) and a
standalone `*.move.yaml` / `*.stream.yaml` / `*.cdc.yaml` that `project validate`
finds (`standalone_lineage`), so both report the same edges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from towpath.lineage.collect import WorkflowLineage
from towpath.sql import Schemas, query_lineage

if TYPE_CHECKING:
    from towpath.cdc import CdcSpec
    from towpath.config import Document
    from towpath.moves import MoveSpec
    from towpath.streaming import StreamSpec

__all__ = [
    "STANDALONE_SUFFIXES",
    "cdc_lineage",
    "database_dataset",
    "dataset_namespace",
    "kafka_namespace",
    "kv_dataset",
    "move_lineage",
    "standalone_lineage",
    "stream_lineage",
]

STANDALONE_SUFFIXES = {".move.yaml": "move", ".stream.yaml": "stream", ".cdc.yaml": "cdc"}
"""File name ending -> the kind of job file it is."""

_SCHEMES = {"postgresql": "postgres", "postgres": "postgres", "redis": "redis", "rediss": "redis",
            "redis+cluster": "redis", "mysql": "mysql", "mariadb": "mysql", "grpc": "grpc", "http": "http",
            "https": "https"}
"""URL scheme -> the OpenLineage namespace scheme."""
_PORTS = {"postgres": 5432, "redis": 6379, "mysql": 3306, "kafka": 9092}

Line = Callable[..., int | None]
"""The line of a field of the job's file (by its YAML path)."""


def dataset_namespace(dataset: str) -> tuple[str, str] | None:
    """(`scheme://authority`, name) of a dataset outside the catalog; None for a catalog table.

    >>> dataset_namespace("kafka://127.0.0.1:9092/orders.v1")
    ('kafka://127.0.0.1:9092', 'orders.v1')
    >>> dataset_namespace("sales.orders") is None
    True
    """
    scheme, sep, rest = dataset.partition("://")
    if not sep:
        return None
    if scheme == "file":  # OpenLineage's local files: namespace `file`, the absolute path as the name
        return "file", rest
    authority, _, name = rest.partition("/")
    return f"{scheme}://{authority}", name


def _authority(scheme: str, url: str) -> str:
    """`host:port` of `url`, with the scheme's default port; never the user or password."""
    try:
        parts = urlsplit(url if "://" in url else f"{scheme}://{url}")
        host, port = parts.hostname or "localhost", parts.port
    except ValueError:
        return "unknown"
    return f"{host}:{port or _PORTS.get(scheme, 0)}" if port or scheme in _PORTS else host


def kafka_namespace(bootstrap_servers: str) -> str:
    """`kafka://host:port` of the first bootstrap server (OpenLineage's Kafka naming)."""
    first = bootstrap_servers.split(",")[0].strip()
    first = first.split("://", 1)[-1]  # `PLAINTEXT://host:port` listeners
    return f"kafka://{_authority('kafka', first)}"


def kv_dataset(url: str, namespace: str, *, project: str) -> str:
    """The KV namespace `namespace` of the store `url` names (`embedded`, `redis://...`, the service)."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else url.lower()
    if scheme == "embedded":
        return f"embedded://{project}/{namespace}"
    kind = _SCHEMES.get(scheme, scheme)
    return f"{kind}://{_authority(kind, url)}/{namespace}"


def database_dataset(kind: str, dsn: str, table: str) -> str:
    """A relational table: `postgres://host:port/db.schema.table` or `mysql://host:port/db.table`."""
    scheme = _SCHEMES.get(kind, kind)
    database = urlsplit(dsn).path.strip("/") if "://" in dsn else ""
    parts = table.lower().split(".")
    if scheme == "postgres" and len(parts) == 1:
        parts = ["public", *parts]
    if database and (scheme == "postgres" and len(parts) == 2 or scheme == "mysql" and len(parts) == 1):
        parts = [database.lower(), *parts]
    return f"{scheme}://{_authority(scheme, dsn)}/{'.'.join(parts)}"


def _files_dataset(path: str, base: Path) -> str:
    """A folder of files: `s3://bucket/prefix` as it is, a local folder as `file:///absolute/path`."""
    if "://" in path:
        return path.rstrip("/")
    return f"file://{(base / path).resolve()}"


def _identifier(name: str) -> str:
    from towpath.catalog import normalize_identifier
    from towpath.errors import CatalogError

    try:
        return normalize_identifier(name)
    except CatalogError:
        return name.lower()


def _columns_in(text: str, dialect: str) -> list[str]:
    """The column names a SQL expression (a filter, a derived column) reads."""
    try:
        parsed = sqlglot.parse_one(text, read=dialect)
    except SqlglotError:
        return []
    return list(dict.fromkeys(c.name.lower() for c in parsed.find_all(exp.Column) if c.name))


def _block_start(path: Path | None, line: int | None) -> int:
    """The first line of a YAML value at `line`: the next one for a `|` / `>` block scalar."""
    if path is None or line is None:
        return line or 1
    try:
        text = path.read_text().splitlines()[line - 1]
    except (OSError, IndexError):
        return line
    return line + 1 if text.split(":", 1)[-1].strip()[:1] in ("|", ">") else line


# -- move -------------------------------------------------------------------------------------------


def move_lineage(lineage: WorkflowLineage, job: str, move: MoveSpec, tables: Schemas, *, project: str,
                 dialect: str = "spark") -> None:
    """Source table (or the query's tables) -> the KV namespace: each key and value column from the source
    columns it is computed from (through sqlglot's lineage for a `sql:` source)."""
    file, dm = move.path, move.data_movement
    target = kv_dataset(move.key_value_dal.url, move.key_value_dal.namespace, project=project)

    def line(*loc: str | int) -> int | None:
        return move.locate(*loc)[1]

    outputs: dict[str, list[tuple[str, str]]] | None
    if dm.source.table is not None:
        source = _identifier(dm.source.table)
        lineage.read(job, source, file=file, line=line("data_movement", "source", "table"))
        known = tables.get(source)
        outputs = {c: [(source, c)] for c in known} if known is not None else None
        for column in _columns_in(dm.source.filter or "", dialect):
            lineage.read(job, source, column, file=file, line=line("data_movement", "source", "filter"))
        inputs = [source]
    else:
        start = _block_start(file, line("data_movement", "source", "sql"))
        try:
            query = sqlglot.parse_one(dm.source.sql or "", read=dialect)
        except SqlglotError:
            return  # the move's own checks report it
        if not isinstance(query, exp.Query):
            return
        found = query_lineage(query, start, tables, dialect=dialect)
        for read in found.reads:
            lineage.read(job, read.table, read.column, file=file, line=read.line)
        for table in found.tables:
            lineage.read(job, table, file=file, line=start)
        outputs = ({name: [(s.table, s.column) for s in sources] for name, sources in found.columns.items()}
                   if found.columns else None)
        inputs = found.tables
    lineage.write(job, target, file=file, line=line("key_value_dal", "namespace"))
    keys = [c.lower() for c in dm.key_columns]
    values = [c.lower() for c in dm.value_columns] if dm.value_columns is not None else (
        [c for c in outputs if c not in keys] if outputs is not None else None)
    for field, names in (("key_columns", keys), ("value_columns", values or [])):
        for i, name in enumerate(names):
            at = line("data_movement", field, i) if field == "key_columns" or dm.value_columns else None
            sources = (outputs or {}).get(name, [])
            if dm.source.table is not None and at is not None:
                lineage.read(job, inputs[0], name, file=file, line=at)
            for table, column in sources:
                lineage.edge(job, table, column, target, name, kind="move", file=file, line=at)
    if outputs is None:
        for table in inputs:
            lineage.edge(job, table, None, target, None, kind="table", file=file,
                         line=line("key_value_dal", "namespace"))


# -- stream -----------------------------------------------------------------------------------------


_WINDOW = "_stream.window"
"""The name a `transform.sql`'s `window` table gets for lineage (a table needs a namespace to be traced)."""


def stream_lineage(lineage: WorkflowLineage, job: str, stream: StreamSpec, doc: Document, tables: Schemas) -> None:
    """Kafka topic(s) -> the sink table, column by column where the schema is declared (through the
    transform: casts, renames, derived columns, or its SQL), plus the dead-letter table."""
    file = doc.path

    def line(*loc: str | int) -> int | None:
        return doc.locate(loc)[0]

    namespace = kafka_namespace(stream.source.bootstrap_servers)
    topics = stream.source.topics or [stream.source.topic_pattern or ""]
    sources = [f"{namespace}/{topic}" for topic in topics]
    for i, source in enumerate(sources):
        lineage.read(job, source, file=file, line=line("source", "topics", i) if stream.source.topics
                     else line("source", "topic_pattern"))
    if stream.sink.table is not None:
        sink, dead = _identifier(stream.sink.table), _identifier(stream.sink.dead_letter_table)
    else:  # Parquet/CSV files under a folder (relative to the stream file) or an s3:// prefix
        base = file.parent if file is not None else Path.cwd()
        sink, dead = _files_dataset(stream.sink.path or "", base), _files_dataset(stream.sink.dead_letter_path, base)
    lineage.write(job, sink, file=file, line=line("sink", "table"))
    lineage.write(job, dead, file=file, line=line("sink", "dead_letters") or line("sink", "table"))
    inputs: list[str] | None = None
    if isinstance(stream.schema_, list):
        inputs = [c.name.lower() for c in stream.schema_]
        inputs += [c.lower() for c in (stream.key_column,) if c] + (
            ["kafka_timestamp"] if stream.event_time == "kafka_timestamp" else [])
    outputs = _stream_outputs(stream, inputs, line)
    known = tables.get(sink)
    if outputs is None and known is not None:
        outputs = {c: ({c}, "inferred") for c in known}  # a detected schema: the sink's columns, same-named
    for source in sources:
        lineage.edge(job, source, None, dead, None, kind="dead_letters", file=file, line=line("sink"))
        if outputs is None:
            lineage.edge(job, source, None, sink, None, kind="table", file=file, line=line("sink", "table"))
            continue
        for out, (origins, kind) in outputs.items():
            for origin in sorted(origins):
                lineage.edge(job, source, origin, sink, out, kind=kind, file=file, line=line("sink", "table"))


def _stream_outputs(stream: StreamSpec, inputs: list[str] | None,
                    line: Line) -> dict[str, tuple[set[str], str]] | None:
    """Sink column -> (the message fields it comes from, edge kind); None when the fields are unknown."""
    transform = stream.transform
    if transform is None:
        return {c: ({c}, "stream") for c in inputs} if inputs is not None else None
    if transform.sql is not None:
        try:
            query = sqlglot.parse_one(transform.sql, read="spark")
        except SqlglotError:
            return None
        if not isinstance(query, exp.Query):
            return None
        for table in query.find_all(exp.Table):
            if not table.db and table.name.lower() == "window":
                table.set("db", exp.to_identifier("_stream"))
        found = query_lineage(query, line("transform", "sql") or 1, {_WINDOW: dict.fromkeys(inputs, "text")}
                              if inputs is not None else {}, dialect="spark")
        if not found.columns:
            return None
        return {out: ({s.column for s in sources}, "stream") for out, sources in found.columns.items()}
    if inputs is None:
        return None
    dialect = "spark"
    outputs = {transform.renames.get(c, c).lower(): ({c}, "stream") for c in inputs}
    for name, text in transform.derive.items():
        outputs[name.lower()] = ({c for c in _columns_in(text, dialect) if c in inputs}, "stream")
    return outputs


# -- cdc --------------------------------------------------------------------------------------------


def cdc_lineage(lineage: WorkflowLineage, job: str, cdc: CdcSpec, doc: Document, tables: Schemas, *,
                project: str) -> None:
    """The source database table -> each target (an Iceberg table, a KV namespace, a search index): a
    target copies the source's rows, so its columns are the source's, by name."""
    file = doc.path

    def line(*loc: str | int) -> int | None:
        return doc.locate(loc)[0]

    source = database_dataset(cdc.source.type, cdc.source.url, cdc.source.table)
    lineage.read(job, source, file=file, line=line("source", "table"))
    for i, column in enumerate(cdc.source.primary_key or []):
        lineage.read(job, source, column.lower(), file=file, line=line("source", "primary_key", i))
    columns: Mapping[str, str] | None = None
    targets: list[str] = []
    for target in cdc.targets:
        if target.type == "iceberg":
            ident = _identifier(getattr(target, "table", ""))
            columns = columns or tables.get(ident)
            targets.append(ident)
        elif target.type == "search":
            targets.append(f"tantivy://{project}/{getattr(target, 'index', '')}")
        else:  # a KV namespace (`url`, `namespace`), or a target kind this module does not know yet
            url, namespace = getattr(target, "url", "embedded"), getattr(target, "namespace", None)
            targets.append(kv_dataset(url, namespace, project=project) if namespace else f"{target.type}://{project}")
    for i, target_name in enumerate(targets):
        lineage.write(job, target_name, file=file, line=line("targets", i))
        if columns is None:
            lineage.edge(job, source, None, target_name, None, kind="table", file=file, line=line("targets", i))
            continue
        for column in columns:
            lineage.edge(job, source, column, target_name, column, kind="cdc", file=file, line=line("targets", i))


# -- files outside workflows ------------------------------------------------------------------------


def standalone_lineage(path: Path, root: Path, tables: Schemas, *, project: str) -> WorkflowLineage:
    """The lineage of a job file run on its own (`towpath move run`, `stream run`, `cdc run`).

    It is recorded as a "workflow" named by the file's path in the project, with one
    job named after the job's kind, so `towpath lineage` and migrations see it.

    Raises:
        SpecError: the file does not load (at its file:line:column).
        ParameterError: a CDC file names an environment variable that is not set.
    """
    from towpath.config import load_yaml

    kind = next(k for suffix, k in STANDALONE_SUFFIXES.items() if path.name.endswith(suffix))
    found = WorkflowLineage(str(path.relative_to(root)), path)
    found.job_types[kind] = kind
    if kind == "move":
        from towpath.moves import load_move

        move_lineage(found, kind, load_move(path), tables, project=project)
    elif kind == "stream":
        from towpath.streaming import load_stream_spec

        stream_lineage(found, kind, load_stream_spec(path), load_yaml(path), tables)
    else:
        from towpath.cdc import load_cdc_spec

        cdc_lineage(found, kind, load_cdc_spec(path), load_yaml(path), tables, project=project)
    return found
