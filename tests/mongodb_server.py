"""The MongoDB server the tests run against.

No mongod can be installed on the development machines, so by default the tests start the
``secantusdb`` stand-in (a MongoDB wire-protocol server, a test-only dependency) on 127.0.0.1 with
a free port and stop it at the end of the session. Set ``NOTIFYCTL_TEST_MONGODB_URI`` (e.g.
``mongodb://127.0.0.1:27017``) to run the same tests against a real MongoDB instead; each test then
uses, and drops, a database of its own on that server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pymongo import MongoClient

from notifyctl.store.mongodb.schema import to_date
from tests.helpers import free_port

REAL_SERVER_VARIABLE = "NOTIFYCTL_TEST_MONGODB_URI"


def callers_now(now: int) -> dict[str, Any]:
    """The store's "now" for tests of time-dependent rules: the caller's logical time stands in
    for the server's clock (``notifyctl.store.mongodb.clock``), so the same pipelines run with time
    under the test's control. Production never does this: it would be the worker's clock again."""
    return {"$literal": to_date(now)}


def stand_in_executable() -> str:
    beside_python = Path(sys.executable).with_name("secantusd-py")
    found = str(beside_python) if beside_python.exists() else shutil.which("secantusd-py")
    if found is None:
        raise RuntimeError(
            "the MongoDB stand-in is not installed: pip install -e '.[test]' (secantusdb), "
            f"or set {REAL_SERVER_VARIABLE} to a real MongoDB"
        )
    return found


def answers(url: str) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=500)
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()


@contextmanager
def stand_in_server(directory: Path) -> Iterator[str]:
    """Start the stand-in on a free port; yields its base URL; stops it on exit."""
    port = free_port()
    config = directory / "secantusd.toml"
    config.write_text("")  # an explicit empty config: no auto-discovered ./secantusd.toml
    argv = [stand_in_executable(), "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port), "--storage-path", str(directory / "data")]  # fmt: skip
    log = directory / "secantusd.log"
    with log.open("wb") as out:
        server = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        deadline = time.monotonic() + 60
        while not answers(url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the MongoDB stand-in did not start: {log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def mongodb_base_url(directory: Path) -> Iterator[str]:
    """The real server named by NOTIFYCTL_TEST_MONGODB_URI, or a stand-in started for the run."""
    real = os.environ.get(REAL_SERVER_VARIABLE)
    if real:
        yield real
        return
    with stand_in_server(directory) as url:
        yield url


def with_database(base_url: str, name: str) -> str:
    """The URL with its database path replaced: ``mongodb://host/?x=1`` -> ``.../name?x=1``."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def fresh_database_name() -> str:
    return f"notifyctl_test_{uuid.uuid4().hex[:12]}"


def drop_database(url: str) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(client.get_default_database())
    finally:
        client.close()
