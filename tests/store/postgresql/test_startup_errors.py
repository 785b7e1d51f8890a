"""A PostgreSQL store that cannot start, through the command line as an operator meets it: one
line naming what failed (the password masked) and what to do, exit 2, and no retries for what
no retry mends. Cases: a URL naming no database, a database or role that does not exist, a
server that refuses (nothing listening; pg_hba.conf rejecting us), a role without rights."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest

from notifyctl.config import SETTINGS
from notifyctl.store.postgresql.pool import PoolSize
from notifyctl.store.postgresql.store import PostgresStore
from tests.helpers import free_port
from tests.postgres_cluster import Clusters, require_server_tools
from tests.postgres_server import SERVER_URL, with_schema

pytestmark = pytest.mark.timeout(120)

SECRET = "s3cret-pw"


def start_worker(store_url: str) -> tuple[int, str, float]:
    """``notifyctl --store URL worker --id 1``: its exit code, last stderr line and duration."""
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    env["NOTIFYCTL_MONITOR_PORT_BASE"] = "0"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "notifyctl", "--store", store_url, "worker", "--id", "1"],
        env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    return done.returncode, lines[-1] if lines else "", time.monotonic() - started


def assert_refused(store_url: str, *fragments: str, retried: bool = False) -> float:
    code, line, took = start_worker(store_url)
    assert code == 2, line
    assert line.startswith("notifyctl: error: "), line
    assert SECRET not in line and "***" in line
    for fragment in fragments:
        assert fragment in line, line
    assert retried or "gave up after" not in line  # no retry mends these: no waiting
    return took


def on_server(user: str, path: str, query: str = "") -> str:
    host = SERVER_URL.split("@", 1)[1].split("/", 1)[0]
    return f"postgresql://{user}:{SECRET}@{host}/{path}{query}"


def test_a_url_naming_no_database_is_refused(postgresql_server: str) -> None:
    assert_refused(on_server("postgres", ""), "names no database", "CREATE DATABASE")


def test_a_database_that_does_not_exist(postgresql_server: str) -> None:
    missing = f"missing_{uuid.uuid4().hex[:8]}"
    assert_refused(on_server("postgres", missing), f'"{missing}" does not exist',
                   "CREATE DATABASE")  # fmt: skip


def test_a_role_that_does_not_exist(postgresql_server: str) -> None:
    assert_refused(on_server("nobody_here", "postgres"), "does not exist", "CREATE ROLE")


def test_a_port_where_nothing_listens_is_tried_then_named() -> None:
    url = f"postgresql://notifyctl:{SECRET}@127.0.0.1:{free_port()}/notifyctl"
    assert_refused(url, "Connection refused", "PostgreSQL is running", retried=True)


@pytest.mark.timeout(180)
def test_a_server_whose_pg_hba_rejects_us() -> None:
    clusters = Clusters(require_server_tools())
    try:
        server = clusters.new("server").init()
        (server.data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 reject\n")
        server.start()
        url = f"postgresql://postgres:{SECRET}@127.0.0.1:{server.port}/postgres"
        assert_refused(url, "pg_hba.conf rejects connection", "reload")
    finally:
        clusters.remove()


@pytest.fixture
def role_without_rights(postgresql_server: str) -> Iterator[tuple[str, str]]:
    """A role that may log in and use a schema but not create in it; the schema's name."""
    role, schema = f"norights_{uuid.uuid4().hex[:8]}", f"locked_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgresql_server, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    yield role, schema
    with psycopg.connect(postgresql_server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.execute(f"DROP ROLE {role}")


def test_a_role_without_rights_is_told_what_to_grant(role_without_rights: tuple[str, str]) -> None:
    role, schema = role_without_rights
    query = "?options=" + quote(f"-csearch_path={schema}")
    assert_refused(on_server(role, "postgres", query), f"as role '{role}'",
                   f"permission denied for schema {schema}", "GRANT CREATE")  # fmt: skip


def test_a_role_with_table_rights_only_starts_once_an_owner_created_the_tables(
    role_without_rights: tuple[str, str], postgresql_server: str
) -> None:
    role, schema = role_without_rights
    query = "?options=" + quote(f"-csearch_path={schema}")
    PostgresStore(with_schema(postgresql_server, schema), PoolSize(max=1, min=1)).close()
    with psycopg.connect(postgresql_server, autocommit=True) as conn:
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} "
                     f"TO {role}")  # fmt: skip
    store = PostgresStore(on_server(role, "postgres", query), PoolSize(max=1, min=1))
    assert store.counts(0)["pending"] == 0
    store.close()
