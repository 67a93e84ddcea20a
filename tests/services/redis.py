"""A throwaway `redis-server`, and a three-node Redis Cluster joined with `redis-cli --cluster create`.

Both come from Debian's `redis-server` package (`make services` installs it).
Nothing is persisted (`save ""`, no AOF); each server lives in its own temp dir.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._process import free_port, wait_for_port

REDIS_INSTALL_HINT = "apt-get install -y redis-server"


@dataclass(frozen=True)
class RedisServer:
    """One `redis-server` on 127.0.0.1; `url` is `redis://127.0.0.1:PORT/0`."""

    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass(frozen=True)
class RedisCluster:
    """Three primaries (no replicas) owning all 16384 slots; `url` names the first node."""

    ports: tuple[int, ...]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"


def redis_binaries() -> tuple[str, str] | None:
    """(`redis-server`, `redis-cli`) from PATH, or None when Redis is not installed."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    return (server, cli) if server and cli else None


def _start(folder: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    binaries = redis_binaries()
    if binaries is None:
        raise RuntimeError(f"redis-server not found: {REDIS_INSTALL_HINT}")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "redis.log"
    proc = subprocess.Popen(
        [binaries[0], "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(log), "--protected-mode", "no", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 20, "redis-server", log)
    except RuntimeError:
        proc.kill()
        raise
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def redis_server(port: int | None = None) -> Iterator[RedisServer]:
    """Start a `redis-server` on a free port, yield it, stop it and delete its folder."""
    tmp = Path(tempfile.mkdtemp(prefix="towpath-redis-"))
    port = port or free_port()
    proc = _start(tmp, port)
    try:
        yield RedisServer(port, proc.pid)
    finally:
        _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def redis_cluster(nodes: int = 3) -> Iterator[RedisCluster]:
    """Start `nodes` cluster-enabled servers, join them with `redis-cli --cluster create`, wait until
    every node reports `cluster_state:ok`, yield the cluster, stop it and delete its folders."""
    tmp = Path(tempfile.mkdtemp(prefix="towpath-redis-cluster-"))
    ports = tuple(free_port() for _ in range(nodes))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            procs.append(_start(tmp / str(port), port, "--cluster-enabled", "yes",
                                "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
                                # the bus port defaults to port + 10000, which a free port above 55535 cannot have
                                "--cluster-port", str(free_port())))
        binaries = redis_binaries()
        assert binaries is not None
        subprocess.run([binaries[1], "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        for port in ports:
            while "cluster_state:ok" not in subprocess.run(
                [binaries[1], "-p", str(port), "cluster", "info"], capture_output=True, text=True, check=False,
            ).stdout:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Redis Cluster node 127.0.0.1:{port} did not reach cluster_state:ok in 30s")
                time.sleep(0.05)
        yield RedisCluster(ports)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"redis-cli --cluster create failed:\n{exc.stdout!r}\n{exc.stderr!r}") from None
    finally:
        for proc in procs:
            _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
