"""No input, however malformed, makes a 500 or loses or invents a notification."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.model import now_ms
from notifyctl.store import open_store
from tests.conftest import make_config

SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
JSON = {"content-type": "application/json"}
FIELDS = ["user_id", "channel", "to", "title", "body", "data", "priority", "scheduled_for",
          "idempotency_key", "max_attempts", "extra"]  # fmt: skip

scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=50)
    | st.sampled_from(["webhook", "log", "high", "2026-12-01T10:00:00Z", "http://93.184.216.34/",
                       "http://127.0.0.1/", "\ud800", "x" * 3000])
)  # fmt: skip
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10),
                                                                         inner, max_size=5),
    max_leaves=25,
)  # fmt: skip
notification_like = st.fixed_dictionaries(
    {"user_id": st.text(max_size=5) | scalars, "channel": st.sampled_from(["log", "webhook"])},
    optional={name: values for name in FIELDS if name not in ("user_id", "channel")},
)


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


class World:
    def __init__(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix="notifyctl-props-"))
        config = make_config(directory, rate_limit_per_s=0)
        self.store = open_store(config)
        self.client = TestClient(build_app(config, self.store))
        self.accepted = 0

    def stored(self) -> int:
        counts = self.store.counts(now_ms())
        return sum(v for k, v in counts.items() if k != "locked")


WORLD = World()


def check(response: Any, created: int) -> None:
    assert response.status_code < 500, response.text
    WORLD.accepted += created
    assert WORLD.stored() == WORLD.accepted


@SETTINGS
@given(body=notification_like | values)
def test_single_posts(body: Any) -> None:
    response = WORLD.client.post("/v1/notifications", content=encode(body), headers=JSON)
    check(response, 1 if response.status_code == 201 else 0)


@SETTINGS
@given(items=st.lists(notification_like | values, min_size=0, max_size=6))
def test_batches(items: list[Any]) -> None:
    body = {"notifications": items}
    response = WORLD.client.post("/v1/notifications/batch", content=encode(body), headers=JSON)
    created = 0
    if response.status_code == 200:
        created = sum(1 for r in response.json()["results"] if r["status"] == 201)
    check(response, created)


@SETTINGS
@given(body=notification_like, cut=st.integers(0, 200), junk=st.binary(max_size=20))
def test_truncated_and_corrupted_bodies(body: Any, cut: int, junk: bytes) -> None:
    raw = encode(body)
    damaged = raw[: min(cut, len(raw) - 1)] + junk
    for path in ("/v1/notifications", "/v1/notifications/batch"):
        response = WORLD.client.post(path, content=damaged, headers=JSON)
        check(response, 1 if response.status_code == 201 else 0)


@SETTINGS
@given(
    query=st.dictionaries(st.sampled_from(["status", "user_id", "limit", "cursor", "x"]),
                          st.text(max_size=30), max_size=4),
    segment=st.text(min_size=1, max_size=40).filter(lambda s: s not in (".", "..")),
)  # fmt: skip
def test_reads_and_cancels(query: dict[str, str], segment: str) -> None:
    check(WORLD.client.get("/v1/notifications", params=query), 0)
    quoted = quote(segment, safe="")
    check(WORLD.client.get(f"/v1/notifications/{quoted}"), 0)
    check(WORLD.client.delete(f"/v1/notifications/{quoted}"), 0)
