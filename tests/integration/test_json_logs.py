"""``NOTIFYCTL_LOG_FORMAT=json`` end to end: a real ``notifyctl up`` (API, two workers) on the
PostgreSQL store, every secret configured. Every line its processes write to stderr is one JSON
object with the identity fields, the events an operator follows carry the notification's fields,
and no configured secret appears anywhere in the run's output (stdout included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Receiver, answers, free_port, stop, wait_until
from tests.ports import steady_base
from tests.postgres_server import postgresql_server, postgresql_url

__all__ = ["postgresql_server", "postgresql_url"]  # the fixtures these tests take

pytestmark = pytest.mark.integration

API_KEY = "nk_live_Zq8XkTtW3bYp0s9LmN4c"
WEBHOOK_SECRET = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="
SMTP_PASSWORD = "SmtpPa55w0rdXyz"
STORE_PASSWORD = "St0rePa55w0rdQrs"  # the server trusts 127.0.0.1: any password connects
SECRETS = (API_KEY, WEBHOOK_SECRET, SMTP_PASSWORD, STORE_PASSWORD)
IDENTITY_FIELDS = {"time", "level", "logger", "role", "pid", "message"}
NOTIFICATION_FIELDS = {"event", "notification_id", "attempt", "channel", "destination", "tenant"}


def with_password(url: str, password: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@", 1)


def post(api: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{api}/v1/notifications", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("content-type", "application/json")
    request.add_header("authorization", f"Bearer {API_KEY}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return dict(json.loads(response.read()))


def status_of(api: str, notification_id: str) -> str:
    request = urllib.request.Request(f"{api}/v1/notifications/{notification_id}")
    request.add_header("authorization", f"Bearer {API_KEY}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(json.loads(response.read())["status"])
    except (OSError, urllib.error.HTTPError):
        return "unknown"


def start_up(tmp_path: Path, store_url: str, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    env = {
        **os.environ,
        "NOTIFYCTL_LOG_FORMAT": "json",
        "NOTIFYCTL_LOG_LEVEL": "debug",
        "NOTIFYCTL_STORE_URL": store_url,
        "NOTIFYCTL_API_KEYS": API_KEY,
        "NOTIFYCTL_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # nothing listens there: every email fails to connect, is retried, then dead
        "NOTIFYCTL_SMTP_URL": f"smtps://mailer:{SMTP_PASSWORD}@127.0.0.1:{free_port()}",
        "NOTIFYCTL_EMAIL_FROM": "alerts@example.com",
        "NOTIFYCTL_MONITOR_PORT_BASE": str(steady_base(2)),
        "NOTIFYCTL_RETRY_BASE_MS": "100",
        "NOTIFYCTL_RETRY_MAX_MS": "200",
    }
    argv = [sys.executable, "-m", "notifyctl", "up", "--workers", "2", "--port", str(port)]
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as err, (tmp_path / "stdout.log").open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=err), stderr


def run_traffic(api: str, receiver: Receiver) -> list[str]:
    """A webhook retried once then delivered, one dead after its only attempt failed, and an
    email whose server never answers (dead after two attempts)."""
    retried = post(api, {"user_id": "u1", "channel": "webhook", "to": receiver.url})
    dead = post(api, {"user_id": "u2", "channel": "webhook", "to": receiver.url,
                      "max_attempts": 1})  # fmt: skip
    email = post(api, {"user_id": "u3", "channel": "email", "to": "ada@example.com",
                       "title": "hi", "body": "there", "max_attempts": 2})  # fmt: skip
    wait_until(lambda: status_of(api, retried["id"]) == "sent", 60, "the retried webhook sent")
    wait_until(lambda: status_of(api, dead["id"]) == "dead", 60, "the failed webhook dead")
    wait_until(lambda: status_of(api, email["id"]) == "dead", 60, "the email dead")
    return [retried["id"], dead["id"], email["id"]]


def test_up_writes_json_lines_with_the_fields_and_never_a_secret(
    tmp_path: Path, postgresql_url: str
) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    up, stderr = start_up(tmp_path, with_password(postgresql_url, STORE_PASSWORD), port)
    try:
        wait_until(lambda: up.poll() is not None or answers(f"{api}/health"), 30, "the API")
        assert up.poll() is None, stderr.read_text()
        # every first attempt of a webhook fails with a 503
        with Receiver(lambda attempt: (503 if attempt == 1 else 200, 0.0)) as receiver:
            ids = run_traffic(api, receiver)
    finally:
        code = stop(up, 60)
    assert code == 0
    records = parsed_lines(stderr.read_text())
    check_identity(records)
    check_events(records, ids)
    everything = stderr.read_text() + (tmp_path / "stdout.log").read_text()
    assert [s for s in SECRETS if s in everything] == []


def parsed_lines(text: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    assert lines, "nothing was logged"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"a line that is not JSON: {line!r}")
    return records


def check_identity(records: list[dict[str, Any]]) -> None:
    for record in records:
        assert set(record) >= IDENTITY_FIELDS, record
        assert record["time"].endswith("Z") and "T" in record["time"]
    roles = {record["role"] for record in records}
    assert {"up", "api", "worker"} <= roles
    workers = [r for r in records if r["role"] == "worker"]
    assert all("worker" in r and "worker_id" in r for r in workers if r["logger"] != "hypercorn")
    banner = [r for r in records if r.get("event") == "banner"]
    assert any("store" in r["message"] and "***" in r["message"] for r in banner)
    assert any(r["logger"].startswith("hypercorn") for r in records)


def check_events(records: list[dict[str, Any]], ids: list[str]) -> None:
    retried, dead, email = ids
    events = {(r.get("event"), r.get("notification_id")): r for r in records}
    for wanted in [("accepted", retried), ("claimed", retried), ("retry_scheduled", retried),
                   ("delivered", retried), ("dead", dead), ("retry_scheduled", email),
                   ("dead", email)]:  # fmt: skip
        assert wanted in events, f"no {wanted[0]} line for {wanted[1]}"
        assert set(events[wanted]) >= NOTIFICATION_FIELDS, events[wanted]
    delivered = events[("delivered", retried)]
    assert delivered["attempt"] == 2 and delivered["channel"] == "webhook"
    assert delivered["destination"].startswith("http://127.0.0.1:")
    assert delivered["tenant"] == "default" and delivered["level"] == "info"
    retry = events[("retry_scheduled", retried)]
    assert "Retry attempt 2 of 3" in retry["message"] and "503" in retry["error"]
    assert retry["delay_s"] >= 0
    assert events[("dead", email)]["destination"] == "smtp"
