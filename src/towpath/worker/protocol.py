"""What the CLI and its resident worker say to each other over the project's Unix socket.

One connection per command. The client's first message is the request (its
argv, current folder, environment, umask) and carries its stdin, stdout and
stderr as file descriptors (SCM_RIGHTS), so the command writes straight to the
caller's terminal or pipes: colours, widths and progress bars behave exactly as
in-process. Then the client may send signals it received (Ctrl-C) and the
worker answers once, with the exit code, or with why it did not run the command
(`stale`: towpath changed on disk since the worker started; `mismatch`: another
interpreter). Messages are length-prefixed JSON objects.

This module is imported by every `towpath` invocation: standard library only.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

PROJECT_FILE = "towpath.yaml"
STATE_DIR = ".towpath"
SOCKET_NAME = "worker.sock"
PID_NAME = "worker.json"
LOCK_NAME = "worker.lock"

_HEADER = struct.Struct("!I")
MAX_MESSAGE = 16 * 1024 * 1024


def socket_path(root: Path) -> Path:
    """Where the worker of the project at `root` listens."""
    return root / STATE_DIR / SOCKET_NAME


def pid_path(root: Path) -> Path:
    """The worker's facts (pid, host, started, idle timeout), for `towpath worker status`."""
    return root / STATE_DIR / PID_NAME


def lock_path(root: Path) -> Path:
    """Held (flock) by the one running worker of a project."""
    return root / STATE_DIR / LOCK_NAME


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding `towpath.yaml` (cheap: no config parsing)."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    frame = _HEADER.pack(len(data)) + data
    if fds:
        socket.send_fds(sock, [frame], fds)
    else:
        sock.sendall(frame)


def receive(sock: socket.socket, *, max_fds: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and any descriptors sent with it; (None, []) when the peer hung up."""
    fds: list[int] = []
    if max_fds:
        head, fds, _flags, _addr = socket.recv_fds(sock, _HEADER.size, max_fds)
    else:
        head = sock.recv(_HEADER.size)
    head += _read_exactly(sock, _HEADER.size - len(head)) if head else b""
    if len(head) < _HEADER.size:
        _close_all(fds)
        return None, []
    (size,) = _HEADER.unpack(head)
    if size > MAX_MESSAGE:
        _close_all(fds)
        raise ValueError(f"worker message of {size} bytes is over the limit")
    body = _read_exactly(sock, size)
    if len(body) < size:
        _close_all(fds)
        return None, []
    message = json.loads(body)
    if not isinstance(message, dict):
        _close_all(fds)
        raise TypeError("worker message is not a JSON object")
    return message, fds


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
