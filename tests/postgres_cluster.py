"""A private PostgreSQL cluster for fault tests: its own port and directory, started, restarted,
stopped and promoted by the test, never the shared server on 5432 (other tests use it).

The server refuses to run as root, so every server command runs as the ``postgres`` user
(``runuser``). Its directory is under ``/tmp`` rather than the test's ``tmp_path``: pytest makes
``tmp_path``'s parents private to root, where ``postgres`` cannot reach. ``Cluster.remove``
stops the server (by its PID if ``pg_ctl`` cannot) and deletes the directory; the fixtures of
the tests call it on failure too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from tests.helpers import free_port

#: bounds every server command, so a stuck server fails the test instead of hanging it
COMMAND_TIMEOUT_S = 60


def server_bin() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian: /usr/lib/postgresql/<v>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    return found[-1].parent if found else None


def require_server_tools() -> Path:
    """The binaries, or skip (fail in CI, where .ci/run installs PostgreSQL)."""
    found = server_bin()
    if found is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        reason = "PostgreSQL's server binaries and root (runuser -u postgres) are needed"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run installs PostgreSQL")
        pytest.skip(reason)
    return found


def as_postgres(*argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["runuser", "-u", "postgres", "--", *map(str, argv)]
    return subprocess.run(
        command, check=check, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )


class Cluster:
    """One data directory and one server on 127.0.0.1:``port``."""

    def __init__(self, bin_dir: Path, root: Path, name: str) -> None:
        self.bin, self.data, self.port = bin_dir, root / name, free_port()
        self.log = root / f"{name}.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self, **settings: str) -> Cluster:
        as_postgres(self.bin / "initdb", "-D", self.data, "--auth=trust", "-U", "postgres")
        self.configure(**settings)
        return self

    def configure(self, **settings: str) -> None:
        """Append settings to postgresql.auto.conf, which wins over postgresql.conf and holds
        what ``pg_basebackup -R`` wrote (the last one of a name wins)."""
        base = {"port": str(self.port), "listen_addresses": "'127.0.0.1'",
                "unix_socket_directories": f"'{self.data}'", "fsync": "on"}  # fmt: skip
        lines = [f"{key} = {value}" for key, value in {**base, **settings}.items()]
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return as_postgres(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, *args,
                           check=check)  # fmt: skip

    def start(self) -> None:
        self.pg_ctl("-w", "-t", "50", "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-w", "-t", "50", "-m", mode, "stop")

    def restart(self, down_s: float = 0.0) -> None:
        """A fast shutdown (sessions ended, a checkpoint), ``down_s`` seconds down, a start."""
        self.stop("fast")
        time.sleep(down_s)
        self.start()

    def promote(self) -> None:
        self.pg_ctl("-w", "-t", "50", "promote")

    def standby_of(self, primary: Cluster) -> Cluster:
        """A streaming standby of ``primary`` (``pg_basebackup -R`` writes the connection and
        ``standby.signal``), known to the primary as ``standby`` (synchronous_standby_names)."""
        as_postgres(self.bin / "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port),
                    "-U", "postgres", "-D", self.data, "-R", "-X", "stream",
                    "-c", "fast")  # fmt: skip
        conninfo = f"host=127.0.0.1 port={primary.port} user=postgres application_name=standby"
        # the copy has the primary's synchronous_standby_names: once promoted, with no standby
        # of its own, every commit would wait for one forever
        self.configure(primary_conninfo=f"'{conninfo}'", synchronous_standby_names="''")
        return self

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def halt(self) -> None:
        """Stop the server whatever its state: pg_ctl, then SIGQUIT to its own postmaster."""
        if not self.data.exists():
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.pg_ctl("-w", "-t", "20", "-m", "immediate", "stop", check=False)
        pid = self.postmaster_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGQUIT)
            except ProcessLookupError:
                return
            time.sleep(1)


class Clusters:
    """The clusters of one test under one directory, removed together."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="notifyctl-pgfault-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.members: list[Cluster] = []

    def new(self, name: str) -> Cluster:
        cluster = Cluster(self.bin, self.root, name)
        self.members.append(cluster)
        return cluster

    def remove(self) -> None:
        for cluster in self.members:
            cluster.halt()
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        """Each server's log, for a failure's message."""
        return "\n".join(
            f"--- {c.log.name}\n{c.log.read_text(errors='replace')[-3000:]}"
            for c in self.members
            if c.log.exists()
        )
