"""A throwaway MariaDB from Debian's `mariadb-server`."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._process import free_port, give_to, unprivileged_user, wait_for_port

MYSQL_PASSWORD = "towpath-secret"

MARIADB_INSTALL_HINT = "apt-get update && apt-get install -y mariadb-server"


@dataclass(frozen=True)
class MySqlServer:
    """Connection facts of a throwaway MariaDB server (user `root`, password required over TCP)."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    @property
    def dsn(self) -> str:
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"


def mariadb_binaries() -> tuple[str, str] | None:
    """(`mariadbd`, `mariadb-install-db`) from PATH or the usual Debian places, None if not installed."""
    server = shutil.which("mariadbd") or shutil.which("mysqld", path=os.pathsep.join(["/usr/sbin", "/usr/bin"]))
    if server is None:
        for path in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld"):
            if os.path.exists(path):
                server = path
                break
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if server is None or install is None:
        return None
    return server, install


@contextlib.contextmanager
def mysql_server(port: int | None = None, *, binlog: bool = False) -> Iterator[MySqlServer]:
    """mariadb-install-db into a temp datadir, start `mariadbd` on a free port, yield it, stop it.

    `binlog=True` writes a ROW-format binary log (server id 1), as change data capture reads it.
    """
    bins = mariadb_binaries()
    if bins is None:
        raise RuntimeError(f"MariaDB is not installed: {MARIADB_INSTALL_HINT}")
    server, install = bins
    user = unprivileged_user()
    port = port or free_port()
    tmp = Path(tempfile.mkdtemp(prefix="towpath-maria-"))
    data, sock, log = tmp / "data", tmp / "mysqld.sock", tmp / "server.log"
    tmp.chmod(0o755)
    give_to(user, tmp)
    user_args = [f"--user={user}"] if user else []
    log_args = (
        [f"--log-bin={tmp / 'binlog'}", "--binlog-format=ROW", "--binlog-row-image=FULL", "--server-id=1"]
        if binlog else ["--skip-log-bin"]
    )
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
             "--skip-test-db", *user_args],
            check=True, capture_output=True, text=True,
        )
        proc = subprocess.Popen(
            [server, "--no-defaults", f"--datadir={data}", f"--port={port}", "--bind-address=127.0.0.1",
             f"--socket={sock}", f"--pid-file={tmp / 'mysqld.pid'}", f"--log-error={log}",
             "--skip-name-resolve", "--local-infile=1", "--innodb-flush-log-at-trx-commit=0",
             "--innodb-buffer-pool-size=64M", *log_args, *user_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, 60, "mariadbd", log)
        import pymysql

        # A fresh install lets root in over the socket without a password; give it one for TCP.
        conn = pymysql.connect(unix_socket=str(sock), user="root")
        with conn.cursor() as cur:
            cur.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (MYSQL_PASSWORD,))
            cur.execute("CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY %s", (MYSQL_PASSWORD,))
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
            cur.execute("CREATE DATABASE IF NOT EXISTS towpath")
        conn.commit()
        conn.close()
        yield MySqlServer("127.0.0.1", port, "root", MYSQL_PASSWORD, "towpath")
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{exc.cmd} failed:\n{exc.stdout}\n{exc.stderr}") from None
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
