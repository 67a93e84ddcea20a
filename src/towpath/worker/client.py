"""The thin side of the worker: hand a command to the project's worker, or say it is not there.

`run` returns None whenever the worker cannot take the command (none running,
another interpreter, towpath changed on disk, stopping): the caller then runs
it in-process, so the worker is only ever a speed-up. Signals the caller gets
while the command runs (Ctrl-C, SIGTERM, SIGHUP) are passed to the command.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from towpath.worker import protocol

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
DEFAULT_IDLE_SECONDS = 15 * 60.0


class WorkerLostError(RuntimeError):
    """The worker went away after it started the command: whether it finished is unknown."""


def connect(root: Path) -> socket.socket | None:
    """A connection to the worker of the project at `root`, or None if none listens."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(protocol.socket_path(root)))
    except OSError:
        sock.close()
        return None
    return sock


def request(root: Path, message: dict[str, Any]) -> dict[str, Any] | None:
    """One question to the worker (`status`, `stop`) and its answer; None if no worker listens."""
    sock = connect(root)
    if sock is None:
        return None
    with sock:
        protocol.send(sock, message)
        reply, _ = protocol.receive(sock)
        return reply


def run(root: Path, argv: list[str]) -> int | None:
    """Run `towpath argv` in the worker of `root`; its exit code, or None if it did not run it."""
    sock = connect(root)
    if sock is None:
        return None
    with sock:
        umask = os.umask(0)
        os.umask(umask)
        protocol.send(sock, {
            "op": "run", "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
            "executable": sys.executable, "towpath": str(Path(__file__).resolve().parents[1]),
        }, fds=[0, 1, 2])

        def forward(number: int, _frame: FrameType | None) -> None:
            with contextlib.suppress(OSError):
                protocol.send(sock, {"op": "signal", "signal": number})

        previous = {number: signal.signal(number, forward) for number in FORWARDED_SIGNALS}
        try:
            reply, _ = protocol.receive(sock)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
    if reply is None:
        raise WorkerLostError(
            f"the towpath worker of {root} stopped while running the command (see "
            f"{root / protocol.STATE_DIR / 'worker.log'}); rerun it, or pass --no-worker"
        )
    if "exit" in reply:
        return int(reply["exit"])
    return None


def spawn(
    root: Path, *, entry: str, warm: Sequence[str] = (), idle_seconds: float = DEFAULT_IDLE_SECONDS,
    wait: float = 0.0,
) -> bool:
    """Start the worker of `root` in the background (its own session, output to `.towpath/worker.log`).

    Its commands call `entry` (`module:function`) after `warm` modules are imported once.
    With `wait`, block until it listens (or `wait` seconds pass); returns whether it listens.
    """
    state = root / protocol.STATE_DIR
    state.mkdir(exist_ok=True)
    with open(state / "worker.log", "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "towpath.worker", str(root), "--entry", entry, "--idle", str(idle_seconds),
             "--warm", *warm],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + wait
    while True:
        sock = connect(root)
        if sock is not None:
            sock.close()
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def info(root: Path) -> dict[str, Any] | None:
    """The running worker's facts, from the worker itself; None when none runs."""
    reply = request(root, {"op": "status"})
    return None if reply is None else dict(reply["info"], stopping=reply.get("stopping", False))


def last_info(root: Path) -> dict[str, Any] | None:
    """What the last worker wrote about itself (it may have stopped since)."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(protocol.pid_path(root).read_text())
        return data if isinstance(data, dict) else None
    return None
