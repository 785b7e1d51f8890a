"""The API accepts only the channels its deployment delivers: another known channel is 422
"channel not configured", naming the settings it lacks, and nothing is stored; ``/health`` lists
the channels offered."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.model import now_ms
from notifyctl.store import Store, open_store
from tests.conftest import make_config


def test_a_channel_without_settings_is_422_and_stores_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store: Store = open_store(config)
    try:
        with TestClient(build_app(config, store)) as client:
            body = {"user_id": "u1", "channel": "sms", "to": "+15551234567", "body": "hi"}
            refused = client.post("/v1/notifications", json=body)
            batch = client.post("/v1/notifications/batch", json={"notifications": [body]})
            assert client.get("/health").json()["channels"] == ["webhook", "log"]
        assert refused.status_code == 422
        (detail,) = refused.json()["error"]["details"]
        assert detail["field"] == "channel"
        assert "channel not configured" in detail["message"]
        assert "NOTIFYCTL_SMS_URL" in detail["message"]
        assert batch.json()["results"][0]["status"] == 422
        assert store.counts(now_ms()).get("pending", 0) == 0
    finally:
        store.close()
