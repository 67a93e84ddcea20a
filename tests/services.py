"""Start and stop the real components the tests (and benchmarks) run against.

Every service runs on a free loopback port in its own temp dir and is torn down
afterwards. Nothing here is a mock: PostgreSQL comes from the machine's
binaries, MariaDB from Debian's `mariadb-server`, S3 from moto's server mode and
HTTP services from the stdlib's `ThreadingHTTPServer`.

Used by `tests/conftest.py` (session fixtures) and by `benchmarks/`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

POSTGRES_PASSWORD = "towpath-secret"
MYSQL_PASSWORD = "towpath-secret"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s\n{tail}")


def _unprivileged_user() -> str | None:
    """PostgreSQL and MariaDB refuse to run as root: pick an OS user to run them as (None = us)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "mysql", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no 'postgres', 'mysql' or 'nobody' user exists to run servers as")


def _as_user(user: str | None, cmd: list[str]) -> list[str]:
    return cmd if user is None else ["runuser", "-u", user, "--", *cmd]


def _give_to(user: str | None, *paths: Path) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for path in paths:
        for root, dirs, files in os.walk(path):
            os.chown(root, entry.pw_uid, entry.pw_gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


# -- PostgreSQL -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresServer:
    """Connection facts of a throwaway PostgreSQL server.

    `dsn` is a libpq URI (`postgresql://user:password@127.0.0.1:port/dbname`)
    that psycopg, psql, SQLAlchemy and the towpath connectors all accept.
    Host connections require the password (scram-sha-256), so a wrong password
    really fails.
    """

    host: str
    port: int
    user: str
    password: str
    dbname: str
    bin_dir: Path
    socket_dir: Path

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    def dsn_for(self, dbname: str) -> str:
        """The DSN of another database on the same server."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}"


def postgres_bin_dir() -> Path | None:
    """The newest `/usr/lib/postgresql/*/bin` holding `initdb`, or `pg_ctl` from PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@contextlib.contextmanager
def postgres_server(port: int | None = None) -> Iterator[PostgresServer]:
    """initdb a cluster in a temp dir, start it on a free port, yield it, stop it and delete it."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries not found: apt-get install -y postgresql")
    user = _unprivileged_user()
    port = port or free_port()
    tmp = Path(tempfile.mkdtemp(prefix="towpath-pg-"))
    data, sock, log = tmp / "data", tmp / "sock", tmp / "server.log"
    sock.mkdir()
    pwfile = tmp / "pw"
    pwfile.write_text(POSTGRES_PASSWORD + "\n")
    tmp.chmod(0o755)
    _give_to(user, tmp)
    try:
        subprocess.run(
            _as_user(user, [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
                            "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
                            f"--pwfile={pwfile}"]),
            check=True, capture_output=True, text=True,
        )
        opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        subprocess.run(
            _as_user(user, [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60",
                            "start"]),
            check=True, capture_output=True, text=True,
        )
        _wait_for_port(port, 30, "postgres", log)
        yield PostgresServer("127.0.0.1", port, "postgres", POSTGRES_PASSWORD, "postgres", bin_dir, sock)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{exc.cmd} failed:\n{exc.stdout}\n{exc.stderr}") from None
    finally:
        subprocess.run(
            _as_user(user, [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True, check=False,  # a server that never started has nothing to stop
        )
        shutil.rmtree(tmp, ignore_errors=True)


# -- MariaDB / MySQL ------------------------------------------------------------------------------

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
def mysql_server(port: int | None = None) -> Iterator[MySqlServer]:
    """mariadb-install-db into a temp datadir, start `mariadbd` on a free port, yield it, stop it."""
    bins = mariadb_binaries()
    if bins is None:
        raise RuntimeError(f"MariaDB is not installed: {MARIADB_INSTALL_HINT}")
    server, install = bins
    user = _unprivileged_user()
    port = port or free_port()
    tmp = Path(tempfile.mkdtemp(prefix="towpath-maria-"))
    data, sock, log = tmp / "data", tmp / "mysqld.sock", tmp / "server.log"
    tmp.chmod(0o755)
    _give_to(user, tmp)
    user_args = [f"--user={user}"] if user else []
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
             "--innodb-buffer-pool-size=64M", "--skip-log-bin", *user_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_for_port(port, 60, "mariadbd", log)
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


# -- S3 (moto) ------------------------------------------------------------------------------------

_AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
            "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server on a free port; sets the AWS_* env so boto3/s3fs/pyarrow find it. Yields the endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint,
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_SECURITY_TOKEN", None)
    try:
        _wait_for_port(port, 30, "moto")
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -- HTTP -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def http_service(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` with a `ThreadingHTTPServer` in a daemon thread; yields the base URL (no trailing /)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="http-service", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
