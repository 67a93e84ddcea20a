"""`towpath kv ...`: serve a KV store, and read it (namespaces, aliases, typed gets, scans)."""

from __future__ import annotations

from typing import Any

import click

from towpath.cli import render
from towpath.cli.options import output, project_from

STORE = click.option("--store", "store_url", envvar="TOWPATH_KV_URL", default="embedded", show_default=True,
                     help="KV store URL: embedded, redis://..., redis+cluster://..., postgresql://..., "
                          "or the service at grpc://host:port / http://host:port (env TOWPATH_KV_URL).")
TOKEN = click.option("--token", envvar="TOWPATH_KV_TOKEN", help="Token for the KV service (env TOWPATH_KV_TOKEN).")
PROTO = click.option("--proto-module", help="Override the schema the state room recorded for the namespace with a "
                                            "generated *_pb2.py (file or dotted module).")
KEY_MESSAGE = click.option("--key-message", default="KeyMessage", show_default=True,
                           help="The key message's name in --proto-module.")
RAW = click.option("--raw", is_flag=True, help="No schema: KEY_JSON is a JSON string (the key's UTF-8 bytes), "
                                               "keys and values print as base64.")


def _open(ctx: click.Context, url: str, token: str | None) -> Any:
    from towpath.kv import open_store

    root = project_from(ctx).root if url.split(":", 1)[0] == "embedded" and not url.startswith("embedded:/") else None
    return open_store(url, token=token, root=root)


def _classes(ctx: click.Context, store: Any, name: str, module: str | None, key_message: str, raw: bool) -> Any:
    """(key class, value class) to read `name` with: --proto-module's, else the state room's schema; None for --raw."""
    from towpath.errors import TowpathError
    from towpath.kv import KvError

    if raw:
        return None
    if module is not None:
        from towpath.kv.typed import load_classes

        return load_classes(module, key_message)
    from towpath.moves import recorded_schema
    from towpath.protobuf import compile_schema

    try:
        project = project_from(ctx)
    except TowpathError as exc:
        raise KvError(f"no project to read the schema of '{name}' from ({str(exc).splitlines()[0]}): run in the "
                      "project that moved it (-C DIR), or pass --proto-module FILE or --raw") from None
    schema = recorded_schema(store, project.state, name)
    if schema is None:
        raise KvError(f"'{name}' has no schema recorded in the state room of {project.root} (`towpath move` records "
                      "one with every version it writes): pass --proto-module FILE, or --raw to read bytes")
    compiled = compile_schema(schema)
    return compiled.key_class, compiled.value_class


def _namespaces_table(r: dict[str, Any]) -> None:
    render.table([{"namespace": ns, "aliases": ", ".join(a for a, t in r["aliases"].items() if t == ns),
                   "keys": r["counts"][ns]} for ns in r["namespaces"]], title="namespaces")


def _value(r: dict[str, Any]) -> None:
    if r["found"]:
        render.key_values(r["value"], title=r["namespace"])
    else:
        render.warning(f"not found in {r['namespace']}")


def _rows(r: dict[str, Any]) -> None:
    import json

    render.table([{c: json.dumps(row[c]) for c in ("key", "value")} for row in r["rows"]], ["key", "value"],
                 title=r["namespace"])
    if r["next_cursor"]:
        click.echo(f"more: --cursor {r['next_cursor']}")


@click.group("kv")
def cli() -> None:
    """Serve and read the key-value stores `towpath move` writes.

    \b
    Examples:
      towpath kv serve --engine redis://127.0.0.1:6379/0
      towpath kv namespaces --store grpc://127.0.0.1:8471
      towpath kv get profiles '{"profile_id": 7}'
      towpath kv scan profiles --limit 5 --json
    """


@cli.command()
@click.option("--engine", envvar="TOWPATH_KV_URL", default="embedded", show_default=True,
              help="The store to serve (an engine URL, as --store elsewhere).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (beyond loopback needs --token).")
@click.option("--port", default=8470, show_default=True, help="HTTP port (0: no HTTP API).")
@click.option("--grpc-port", default=8471, show_default=True, help="gRPC port (0: no gRPC API).")
@click.option("--token", envvar="TOWPATH_KV_TOKEN", help="Write/admin token (env TOWPATH_KV_TOKEN).")
@click.option("--read-token", envvar="TOWPATH_KV_READ_TOKEN", help="When set, reads need it (env TOWPATH_KV_READ_TOKEN).")
@click.option("--read-budget-ms", default=2.0, show_default=True, type=click.FloatRange(min=0),
              help="While Gets are served, pace put-batches so the service's Get p99 stays under this (0: never pace).")
@click.option("--min-write-rate", default=10_000, show_default=True, type=click.IntRange(min=1),
              help="Rows/s a paced move still writes, however slow reads get.")
@click.pass_context
def serve(ctx: click.Context, engine: str, host: str, port: int, grpc_port: int, token: str | None,
          read_token: str | None, read_budget_ms: float, min_write_rate: int) -> None:
    """Serve ENGINE over HTTP and gRPC until Ctrl-C.

    Reads come first: while the service answers Gets, a move's put-batches are
    paced (AIMD on the write rate) to hold the Get p99 under --read-budget-ms;
    with nobody reading, a move writes at full speed.

    \b
    Example:
      towpath kv serve --engine redis://127.0.0.1:6379/0 --port 8470 --grpc-port 8471
      towpath kv serve --engine redis://127.0.0.1:6379/0 --read-budget-ms 5
      curl 127.0.0.1:8470/healthz
    """
    import gc
    import threading

    from towpath.kv.service import KvService, ServiceConfig

    store = _open(ctx, engine, None)
    config = ServiceConfig(engine=engine, host=host, port=port, grpc_port=grpc_port, token=token,
                           read_token=read_token, read_budget_ms=read_budget_ms, min_write_rate=min_write_rate)
    with KvService(config, store) as service:
        gc.freeze()  # what startup built never moves again: full collections stay short while serving
        apis = [f"http://{host}:{service.port}" if service.port else "", f"grpc://{host}:{service.grpc_port}"
                if service.grpc_port else ""]
        render.success(f"serving {store.url} at {' and '.join(a for a in apis if a)}"
                       f" ({'writes need the token' if token else 'no token: loopback only'}); Ctrl-C stops")
        forever = threading.Event()
        while not forever.wait(0.5):  # wakes to run Python: Ctrl-C delivered to another thread still stops it
            pass


@cli.command()
@STORE
@TOKEN
@output(_namespaces_table)
@click.pass_context
def namespaces(ctx: click.Context, store_url: str, token: str | None) -> Any:
    """List the namespaces (with their key counts) and the aliases pointing at them.

    \b
    Example:
      towpath kv namespaces --store redis://127.0.0.1:6379/0 --json
    """
    from towpath.kv import overview

    with _open(ctx, store_url, token) as store:
        return overview(store)


@cli.command()
@click.argument("namespace")
@click.argument("key_json")
@STORE
@TOKEN
@PROTO
@KEY_MESSAGE
@RAW
@output(_value, exit_code=lambda r: 0 if r["found"] else 1)
@click.pass_context
def get(ctx: click.Context, namespace: str, key_json: str, store_url: str, token: str | None,
        proto_module: str | None, key_message: str, raw: bool) -> Any:
    """Read one key of NAMESPACE (a namespace or an alias); exits 1 when it is missing.

    KEY_JSON is JSON of the key message's fields, encoded (and the value
    decoded) with the schema the move recorded for NAMESPACE in the state room.

    \b
    Example:
      towpath kv get profiles '{"profile_id": 7}' --json
    """
    from towpath.kv.typed import lookup

    with _open(ctx, store_url, token) as store:
        key_class, value_class = _classes(ctx, store, namespace, proto_module, key_message, raw) or (None, None)
        return lookup(store, namespace, key_json, key_class, value_class)


@cli.command()
@click.argument("namespace")
@click.option("--limit", default=20, show_default=True, help="Rows to show.")
@click.option("--cursor", help="Go on from the next_cursor a previous scan printed (--json).")
@STORE
@TOKEN
@PROTO
@KEY_MESSAGE
@RAW
@output(_rows)
@click.pass_context
def scan(ctx: click.Context, namespace: str, limit: int, cursor: str | None, store_url: str, token: str | None,
         proto_module: str | None, key_message: str, raw: bool) -> Any:
    """Show up to --limit rows of NAMESPACE, decoded with the schema the state room recorded for it.

    \b
    Example:
      towpath kv scan profiles --limit 5 --json
    """
    from towpath.kv.typed import decode

    with _open(ctx, store_url, token) as store:
        key_class, value_class = _classes(ctx, store, namespace, proto_module, key_message, raw) or (None, None)
        rows, next_cursor = store.scan(namespace, cursor, limit)
    return {"namespace": namespace, "next_cursor": next_cursor,
            "rows": [{"key": decode(k, key_class), "value": decode(v, value_class)} for k, v in rows]}
