"""The resident worker: one warm process per project that forks a child for every command.

A new `towpath` process spends about a second importing pyiceberg, SQLAlchemy,
pydantic models, sqlglot and DuckDB before it does any work, and another third
of a second tearing them down. The worker pays the imports once; each command
runs in a `fork()` of it, so it starts warm, shares nothing mutable with other
commands (its own memory, catalog connections, DuckDB database), and dies
without the teardown. The parent never does data work itself: no DuckDB
connection, no thread pool, nothing a fork would copy half-made.

It serves the one project whose `.towpath/` holds its socket (so a project's
permissions guard it, and `towpath worker stop` in that folder finds it), holds
`.towpath/worker.lock` while it runs (a second one refuses), refuses a command
from another interpreter or after towpath's source changed on disk (the client
then runs the command itself), and stops after `idle` seconds without one.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import io
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import towpath
from towpath.worker import protocol
from towpath.worker.ending import exit_code, exit_without_teardown


@dataclass
class WorkerInfo:
    """The facts `towpath worker status` shows, also written to `.towpath/worker.json`."""

    pid: int
    host: str
    root: str
    started_at: float
    idle_seconds: float
    executable: str
    towpath: str
    entry: str
    """`module:function` each command runs, given the command's argv (the CLI's `main`)."""
    commands: int = 0
    busy: int = 0
    """Commands running now."""
    last_command_at: float | None = None
    warm_seconds: float = 0.0


@dataclass
class _Command:
    conn: socket.socket
    pid: int
    pidfd: int


@dataclass
class _Server:
    root: Path
    info: WorkerInfo
    listener: socket.socket
    signature: dict[str, int]
    selector: selectors.DefaultSelector = field(default_factory=selectors.DefaultSelector)
    commands: dict[int, _Command] = field(default_factory=dict)
    stopping: bool = False
    idle_since: float = field(default_factory=time.monotonic)


class WorkerRunningError(RuntimeError):
    """Another worker holds this project's lock."""


def serve(root: Path, *, entry: str, warm: Sequence[str] = (), idle_seconds: float) -> None:
    """Run the worker of the project at `root` until it is stopped or idle for `idle_seconds`.

    Each command calls `entry` (`module:function`, taking the argv) in a fork; `warm` are the
    modules to import before the first one (`module:function`: also call the function with
    `root`, to build what the module builds lazily or read what every command reads). The caller (the CLI) chooses both, so this room
    knows nothing of the commands it runs.
    """
    root = root.resolve()
    (root / protocol.STATE_DIR).mkdir(exist_ok=True)
    lock = open(protocol.lock_path(root), "a+")  # noqa: SIM115 - held for the worker's whole life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise WorkerRunningError(f"a towpath worker already serves {root}") from None
    started = time.monotonic()
    for name in (*warm, entry.partition(":")[0]):
        _warm(name, root)
    gc.freeze()  # what the warm-up built is never collected: a command's collections skip it, and leave its pages shared
    info = WorkerInfo(
        pid=os.getpid(), host=socket.gethostname(), root=str(root), started_at=time.time(),
        idle_seconds=idle_seconds, executable=sys.executable, towpath=_towpath_dir(), entry=entry,
        warm_seconds=round(time.monotonic() - started, 3),
    )
    path = protocol.socket_path(root)
    path.unlink(missing_ok=True)  # we hold the lock: a socket left here belongs to a dead worker
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    listener.listen(64)
    server = _Server(root, info, listener, _source_signature())
    server.selector.register(listener, selectors.EVENT_READ, "accept")
    wake_read, wake_write = socket.socketpair()  # a signal wakes the select loop (set_wakeup_fd)
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    server.selector.register(wake_read, selectors.EVENT_READ, "wake")
    signal.set_wakeup_fd(wake_write.fileno())
    signal.signal(signal.SIGTERM, lambda *_: _stop(server))
    signal.signal(signal.SIGINT, lambda *_: _stop(server))
    _write_info(server)
    try:
        _loop(server)
    finally:  # the socket last: a client that sees it gone sees everything else gone too
        protocol.pid_path(root).unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        listener.close()
        lock.close()


def _loop(server: _Server) -> None:
    while True:
        timeout = None
        if not server.commands:
            timeout = server.info.idle_seconds - (time.monotonic() - server.idle_since)
            if server.stopping or timeout <= 0:
                return
        for key, _events in server.selector.select(timeout):
            if key.data == "accept":
                conn, _ = server.listener.accept()
                _handle_request(server, conn)
            elif key.data == "wake":
                with contextlib.suppress(BlockingIOError):
                    key.fileobj.recv(64)  # type: ignore[union-attr]
            elif key.data == "exit":
                _finish(server, key.fd)
            else:
                _forward(server, key.data)


def _handle_request(server: _Server, conn: socket.socket) -> None:
    try:
        if not _same_user(conn):
            conn.close()
            return
        message, fds = protocol.receive(conn, max_fds=3)
    except (OSError, ValueError, TypeError):
        conn.close()
        return
    if message is None:
        conn.close()
        return
    op = message.get("op")
    if op == "status":
        _reply(conn, {"info": asdict(server.info), "stopping": server.stopping})
    elif op == "stop":
        _stop(server, kill=bool(message.get("now")))
        _reply(conn, {"stopping": True, "running": len(server.commands)})
    elif op == "run":
        refused = _refusal(server, message, fds)
        if refused:
            for fd in fds:
                os.close(fd)
            _reply(conn, {"refused": refused})
        else:
            _start_command(server, conn, message, fds)
    else:
        _reply(conn, {"refused": f"unknown operation {op!r}"})


def _refusal(server: _Server, message: dict[str, Any], fds: list[int]) -> str | None:
    if server.stopping:
        return "stopping"
    if len(fds) != 3:
        return "the request must carry stdin, stdout and stderr"
    if message.get("executable") != server.info.executable or message.get("towpath") != server.info.towpath:
        return "mismatch"
    if _source_signature() != server.signature:
        _stop(server)  # towpath was upgraded or edited: the next command starts a fresh worker
        return "stale"
    return None


def _start_command(server: _Server, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    pid = os.fork()
    if pid == 0:  # the child: never returns
        signal.set_wakeup_fd(-1)
        server.selector.close()
        server.listener.close()
        for command in server.commands.values():
            command.conn.close()
        conn.close()
        _run_in_child(server.info.entry, request, fds)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    server.commands[pidfd] = _Command(conn, pid, pidfd)
    server.selector.register(pidfd, selectors.EVENT_READ, "exit")
    server.selector.register(conn, selectors.EVENT_READ, pidfd)
    server.info.commands += 1
    server.info.busy = len(server.commands)
    server.info.last_command_at = time.time()
    _write_info(server)


def _run_in_child(entry: str, request: dict[str, Any], fds: list[int]) -> None:
    """Become the caller's process (its stdio, folder, environment, umask and argv), then run `entry`."""
    code = 70
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(line_buffering=stream.isatty())
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        os.umask(int(request["umask"]))
        sys.argv = ["towpath", *request["argv"]]
        module, _, function = entry.partition(":")
        try:
            getattr(sys.modules[module], function)(list(request["argv"]))
            code = 0
        except SystemExit as exc:
            code = exit_code(exc)
    except KeyboardInterrupt:
        code = 130
    finally:
        exit_without_teardown(code)


def _forward(server: _Server, pidfd: int) -> None:
    """A message from a running command's client: a signal to pass on, or the client hung up."""
    command = server.commands[pidfd]
    try:
        message, _ = protocol.receive(command.conn)
    except (OSError, ValueError, TypeError):
        message = None
    if message is None:  # the caller died (kill -9 of `towpath`): so does its command, as in-process
        server.selector.unregister(command.conn)
        with contextlib.suppress(ProcessLookupError):
            os.kill(command.pid, signal.SIGKILL)
        return
    if message.get("op") == "signal":
        number = int(message["signal"])
        if number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ProcessLookupError):
                os.kill(command.pid, number)


def _finish(server: _Server, pidfd: int) -> None:
    command = server.commands.pop(pidfd)
    server.selector.unregister(pidfd)
    with contextlib.suppress(KeyError, ValueError):
        server.selector.unregister(command.conn)
    _, status = os.waitpid(command.pid, 0)
    os.close(pidfd)
    code = os.waitstatus_to_exitcode(status)
    _reply(command.conn, {"exit": code if code >= 0 else 128 - code})
    server.info.busy = len(server.commands)
    server.idle_since = time.monotonic()
    _write_info(server)


def _stop(server: _Server, *, kill: bool = False) -> None:
    server.stopping = True
    if kill:
        for command in server.commands.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(command.pid, signal.SIGTERM)


def _reply(conn: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        protocol.send(conn, message)
    conn.close()


def _same_user(conn: socket.socket) -> bool:
    """Only the worker's own user may run commands through it (the socket is 0600 as well)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    _pid, uid, _gid = (int.from_bytes(creds[i:i + 4], sys.byteorder) for i in (0, 4, 8))
    return uid == os.getuid()


def _warm(name: str, root: Path) -> None:
    """Import `module`, or import `module:function` and call the function with the project's root."""
    module, _, function = name.partition(":")
    imported = importlib.import_module(module)
    if function:
        getattr(imported, function)(root)


def _towpath_dir() -> str:
    return str(Path(towpath.__file__).parent)


def _source_signature() -> dict[str, int]:
    """Modification times of every towpath module loaded, to notice an upgrade or an edit."""
    prefix = _towpath_dir()
    signature = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(prefix):
            with contextlib.suppress(OSError):
                signature[path] = os.stat(path).st_mtime_ns
    return signature


def _write_info(server: _Server) -> None:
    path = protocol.pid_path(server.root)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(server.info)))
    tmp.replace(path)
