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
PROTO = click.option("--proto-module", help="The namespace's generated *_pb2.py (file or dotted module): keys are "
                                            "given as JSON of KeyMessage, values printed as ValueMessage.")
KEY_MESSAGE = click.option("--key-message", default="KeyMessage", show_default=True,
                           help="The key message's name in --proto-module.")


def _open(ctx: click.Context, url: str, token: str | None) -> Any:
    from towpath.kv import open_store

    root = project_from(ctx).root if url.split(":", 1)[0] == "embedded" and not url.startswith("embedded:/") else None
    return open_store(url, token=token, root=root)


def _key_class(module: str | None, message: str) -> Any:
    if module is None:
        return None
    from towpath.kv.typed import load_key_class

    return load_key_class(module, message)


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
      towpath kv get profiles '{"profile_id": 7}' --proto-module gen/profiles_pb2.py
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
@click.pass_context
def serve(ctx: click.Context, engine: str, host: str, port: int, grpc_port: int, token: str | None,
          read_token: str | None) -> None:
    """Serve ENGINE over HTTP and gRPC until Ctrl-C.

    \b
    Example:
      towpath kv serve --engine redis://127.0.0.1:6379/0 --port 8470 --grpc-port 8471
      curl 127.0.0.1:8470/healthz
    """
    import threading

    from towpath.kv.service import KvService, ServiceConfig

    store = _open(ctx, engine, None)
    config = ServiceConfig(engine=store.url, host=host, port=port, grpc_port=grpc_port, token=token,
                           read_token=read_token)
    with KvService(config, store) as service:
        apis = [f"http://{host}:{service.port}" if service.port else "", f"grpc://{host}:{service.grpc_port}"
                if service.grpc_port else ""]
        render.success(f"serving {store.url} at {' and '.join(a for a in apis if a)}"
                       f" ({'writes need the token' if token else 'no token: loopback only'}); Ctrl-C stops")
        threading.Event().wait()


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
    with _open(ctx, store_url, token) as store:
        names = store.namespaces()
        return {"namespaces": names, "aliases": store.aliases(), "counts": {n: store.count(n) for n in names}}


@cli.command()
@click.argument("namespace")
@click.argument("key_json")
@STORE
@TOKEN
@PROTO
@KEY_MESSAGE
@output(_value, exit_code=lambda r: 0 if r["found"] else 1)
@click.pass_context
def get(ctx: click.Context, namespace: str, key_json: str, store_url: str, token: str | None,
        proto_module: str | None, key_message: str) -> Any:
    """Read one key of NAMESPACE (a namespace or an alias); exits 1 when it is missing.

    \b
    Example:
      towpath kv get profiles '{"profile_id": 7}' --proto-module gen/profiles_pb2.py
    """
    from towpath.kv.typed import decode_value, encode_key

    key_class = _key_class(proto_module, key_message)
    key = encode_key(key_json, key_class)
    with _open(ctx, store_url, token) as store:
        raw = store.get(namespace, key)
    return {"namespace": namespace, "found": raw is not None,
            "value": None if raw is None else decode_value(raw, key_class)}


@cli.command()
@click.argument("namespace")
@click.option("--limit", default=20, show_default=True, help="Rows to show.")
@click.option("--cursor", help="Go on from the next_cursor a previous scan printed (--json).")
@STORE
@TOKEN
@PROTO
@KEY_MESSAGE
@output(_rows)
@click.pass_context
def scan(ctx: click.Context, namespace: str, limit: int, cursor: str | None, store_url: str, token: str | None,
         proto_module: str | None, key_message: str) -> Any:
    """Show up to --limit rows of NAMESPACE, decoded with --proto-module.

    \b
    Example:
      towpath kv scan profiles --limit 5 --proto-module gen/profiles_pb2.py --json
    """
    from towpath.kv.typed import decode_key, decode_value

    key_class = _key_class(proto_module, key_message)
    with _open(ctx, store_url, token) as store:
        rows, next_cursor = store.scan(namespace, cursor, limit)
    return {"namespace": namespace, "next_cursor": next_cursor,
            "rows": [{"key": decode_key(k, key_class), "value": decode_value(v, key_class)} for k, v in rows]}
