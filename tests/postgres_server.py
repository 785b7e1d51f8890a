"""The PostgreSQL server the tests run against: the one on 127.0.0.1:5432 (trust auth), or the
one ``NOTIFYCTL_TEST_POSTGRESQL_URL`` names. Each test gets a schema of its own (the URL's
``search_path``), dropped afterwards. Without a server the tests skip, saying why, except in CI
(``CI`` set), where ``.ci/run`` starts one and a missing server is a failure.

Fixtures (``postgresql_server``, session-scoped; ``postgresql_url``, one schema per test) are
imported by the conftest files and test modules that use them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest

from notifyctl.config import redacted

SERVER_URL = os.environ.get(
    "NOTIFYCTL_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def postgresql_available(url: str = SERVER_URL) -> bool:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def require_postgresql(url: str = SERVER_URL) -> None:
    """Skip when PostgreSQL is not running here, except in CI, where it must be."""
    if postgresql_available(url):
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is not reachable at {redacted(url)}; .ci/run should start it")
    pytest.skip(f"PostgreSQL is not reachable at {redacted(url)} (start it, or set CI to fail)")


def with_schema(base_url: str, schema: str) -> str:
    """The URL with ``schema`` as its ``search_path`` (libpq's ``options``)."""
    parts = urlsplit(base_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def fresh_schema_name() -> str:
    return f"notifyctl_test_{uuid.uuid4().hex[:12]}"


def run(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement)


def create_schema(base_url: str) -> str:
    """A fresh, empty schema; its URL."""
    schema = fresh_schema_name()
    run(base_url, f'CREATE SCHEMA "{schema}"')
    return with_schema(base_url, schema)


def drop_schema(url: str) -> None:
    """Drop the schema a URL of ``with_schema`` names, with everything in it."""
    options = dict(parse_qsl(urlsplit(url).query))["options"]
    schema = options.removeprefix("-csearch_path=")
    run(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def postgresql_server() -> str:
    """The base URL of the PostgreSQL server of this test session."""
    require_postgresql()
    return SERVER_URL


@pytest.fixture
def postgresql_url(postgresql_server: str) -> Iterator[str]:
    """A URL naming a fresh schema of its own, dropped after the test."""
    url = create_schema(postgresql_server)
    yield url
    drop_schema(url)
