"""Intake under a pause (issue 17 item 4), through the real app: what a pause holds back is
stored ``paused`` (single, batch), the rest as usual; a pause made after the app read the pauses
applies within their TTL; a paused notification can be cancelled; and the listing filters by
the new status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from notifyctl.api import pauses as api_pauses
from notifyctl.api.app import build_app
from notifyctl.model import now_ms
from notifyctl.pauses import pause_of
from notifyctl.shapes import iso_ms
from notifyctl.store import Store, open_store
from tests.conftest import make_config

PAUSED = "http://127.0.0.1:9/paused"
OPEN = "http://127.0.0.1:10/open"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    yield opened
    opened.close()


@pytest.fixture
def client(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(api_pauses, "PAUSES_TTL_S", 0.2)
    with TestClient(build_app(make_config(tmp_path), store)) as test_client:
        yield test_client


def webhook(to: str, **fields: Any) -> dict[str, Any]:
    return {"user_id": "u1", "channel": "webhook", "to": to, **fields}


def test_what_a_pause_holds_is_stored_paused(client: TestClient, store: Store) -> None:
    assert client.post("/v1/notifications", json=webhook(PAUSED)).json()["status"] == "pending"
    store.add_pause(pause_of("destination", PAUSED, now_ms()))
    time.sleep(0.3)  # past the intake's view of the pauses
    held = client.post("/v1/notifications", json=webhook(PAUSED))
    assert held.status_code == 201 and held.json()["status"] == "paused"
    assert client.post("/v1/notifications", json=webhook(OPEN)).json()["status"] == "pending"
    batch = client.post(
        "/v1/notifications/batch", json={"notifications": [webhook(PAUSED), webhook(OPEN)]}
    ).json()["results"]
    assert [r["notification"]["status"] for r in batch] == ["paused", "pending"]
    listed = client.get("/v1/notifications", params={"status": "paused"}).json()
    assert len(listed["notifications"]) == 2
    assert client.delete(f"/v1/notifications/{held.json()['id']}").status_code == 200
    assert store.get(held.json()["id"]).status.value == "cancelled"  # type: ignore[union-attr]


def test_a_scheduled_notification_held_by_a_pause_is_due_when_scheduled_after_resume(
    client: TestClient, store: Store
) -> None:
    store.add_pause(pause_of("channel", "webhook", now_ms()))
    later = (now_ms() // 1000 + 3_600) * 1000
    when = iso_ms(later)
    body = client.post("/v1/notifications", json=webhook(OPEN, scheduled_for=when)).json()
    assert body["status"] == "paused"
    store.remove_pause(pause_of("channel", "webhook"))
    assert store.unpark(now_ms(), [], 100) == 1
    back = store.get(body["id"])
    assert back is not None and back.status.value == "scheduled" and back.available_at == later
