"""A throwaway PostgreSQL from the machine's binaries (`/usr/lib/postgresql/*/bin`)."""

from __future__ import annotations

import contextlib
import glob
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ._process import as_user, free_port, give_to, unprivileged_user, wait_for_port

POSTGRES_PASSWORD = "towpath-secret"


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
def postgres_server(port: int | None = None, settings: Mapping[str, str] | None = None) -> Iterator[PostgresServer]:
    """initdb a cluster in a temp dir, start it on a free port, yield it, stop it and delete it.

    `settings` are extra server settings, e.g. `{"wal_level": "logical"}` for change data capture.
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries not found: apt-get install -y postgresql")
    user = unprivileged_user()
    port = port or free_port()
    tmp = Path(tempfile.mkdtemp(prefix="towpath-pg-"))
    data, sock, log = tmp / "data", tmp / "sock", tmp / "server.log"
    sock.mkdir()
    pwfile = tmp / "pw"
    pwfile.write_text(POSTGRES_PASSWORD + "\n")
    tmp.chmod(0o755)
    give_to(user, tmp)
    try:
        subprocess.run(
            as_user(user, [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
                            "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
                            f"--pwfile={pwfile}"]),
            check=True, capture_output=True, text=True,
        )
        opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        opts += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
        subprocess.run(
            as_user(user, [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60",
                            "start"]),
            check=True, capture_output=True, text=True,
        )
        wait_for_port(port, 30, "postgres", log)
        yield PostgresServer("127.0.0.1", port, "postgres", POSTGRES_PASSWORD, "postgres", bin_dir, sock)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{exc.cmd} failed:\n{exc.stdout}\n{exc.stderr}") from None
    finally:
        subprocess.run(
            as_user(user, [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True, check=False,  # a server that never started has nothing to stop
        )
        shutil.rmtree(tmp, ignore_errors=True)


def restart_postgres(server: PostgresServer) -> None:
    """Restart the server in place (same port and data): clients are cut off, replication slots survive."""
    data, log = server.socket_dir.parent / "data", server.socket_dir.parent / "server.log"
    # The restarted postmaster inherits pg_ctl's stdout: send it to the log, or capturing it would never end.
    subprocess.run(
        as_user(unprivileged_user(), [str(server.bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-m", "fast",
                                      "-w", "-t", "60", "restart"]),
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for_port(server.port, 30, "postgres", log)
