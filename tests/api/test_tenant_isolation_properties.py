"""A property of the whole API (issue 14 item 6): three tenants, each with its own key, do random
creates (some with idempotency keys from a pool they share by name), gets, lists, cancels and
idempotent replays through HTTP, on the real app and store. Whatever the interleaving, no tenant
ever sees, changes or collides with another's notifications, and an id of another tenant's is
answered exactly as an unknown one."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.model import now_ms
from notifyctl.store import open_store
from notifyctl.tenants import KeyRecord, Scope, key_digest
from tests.conftest import make_config

TENANTS = ("acme", "globex", "initech")
IDEMPOTENCY_KEYS = ("order-1", "order-2", "order-3")
UNKNOWN_ID = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"
BODY = {"user_id": "u1", "channel": "log", "title": "hello"}


def headers(tenant: str, idempotency_key: str | None = None) -> dict[str, str]:
    found = {"content-type": "application/json", "authorization": f"Bearer nk_prop-{tenant}"}
    if idempotency_key is not None:
        found["idempotency-key"] = idempotency_key
    return found


class TenantsThroughTheApi(RuleBasedStateMachine):
    """The model: each tenant's ids, its idempotency keys' ids, and what it cancelled."""

    @initialize()
    def start(self) -> None:
        self.directory = tempfile.TemporaryDirectory()
        config = make_config(Path(self.directory.name), worker_concurrency=1)
        self.store = open_store(config)
        for number, tenant in enumerate(TENANTS):
            scopes = frozenset({Scope.SEND, Scope.READ, Scope.CANCEL})
            self.store.create_key(KeyRecord(f"key_{number:016x}", tenant, "", scopes,
                                            key_digest(f"nk_prop-{tenant}"), now_ms()))  # fmt: skip
        self.client = TestClient(build_app(config, self.store))
        self.client.__enter__()
        self.mine: dict[str, set[str]] = {tenant: set() for tenant in TENANTS}
        self.keyed: dict[tuple[str, str], str] = {}
        self.cancelled: set[str] = set()

    def teardown(self) -> None:
        if hasattr(self, "client"):
            self.client.__exit__(None, None, None)
            self.store.close()
            self.directory.cleanup()

    def owner(self, notification_id: str) -> str | None:
        return next((t for t, ids in self.mine.items() if notification_id in ids), None)

    def any_id(self, data: st.DataObject) -> str:
        every = sorted(set().union(*self.mine.values())) or [UNKNOWN_ID]
        return data.draw(st.sampled_from([*every, UNKNOWN_ID]))

    @rule(tenant=st.sampled_from(TENANTS), key=st.none() | st.sampled_from(IDEMPOTENCY_KEYS))
    def create(self, tenant: str, key: str | None) -> None:
        answer = self.client.post("/v1/notifications", json=BODY, headers=headers(tenant, key))
        nid = answer.json()["id"]
        known = self.keyed.get((tenant, key)) if key is not None else None
        if known is None:  # a new notification, whoever else used the same key name
            assert answer.status_code == 201 and self.owner(nid) is None
            self.mine[tenant].add(nid)
            if key is not None:
                self.keyed[tenant, key] = nid
        else:  # a replay: its own first notification, never another tenant's
            assert (answer.status_code, nid) == (200, known)

    @rule(tenant=st.sampled_from(TENANTS), data=st.data())
    def get(self, tenant: str, data: st.DataObject) -> None:
        nid = self.any_id(data)
        answer = self.client.get(f"/v1/notifications/{nid}", headers=headers(tenant))
        if nid in self.mine[tenant]:
            assert answer.status_code == 200 and answer.json()["id"] == nid
        else:
            self.assert_unknown(answer, tenant)

    @rule(tenant=st.sampled_from(TENANTS), data=st.data())
    def cancel(self, tenant: str, data: st.DataObject) -> None:
        nid = self.any_id(data)
        answer = self.client.delete(f"/v1/notifications/{nid}", headers=headers(tenant))
        if nid not in self.mine[tenant]:
            self.assert_unknown(answer, tenant)
        elif nid in self.cancelled:
            assert answer.status_code == 409  # already cancelled: terminal
        else:
            assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
            self.cancelled.add(nid)

    def assert_unknown(self, answer: Any, tenant: str) -> None:
        """Another tenant's id, answered exactly as an id nobody has."""
        unknown = self.client.get(f"/v1/notifications/{UNKNOWN_ID}", headers=headers(tenant))
        assert answer.status_code == 404 and answer.json() == unknown.json()

    @invariant()
    def each_tenant_lists_exactly_its_own(self) -> None:
        if not hasattr(self, "client"):
            return
        for tenant in TENANTS:
            seen: set[str] = set()
            cursor = ""
            while True:
                page = self.client.get(f"/v1/notifications?limit=3{cursor}",
                                       headers=headers(tenant)).json()  # fmt: skip
                seen |= {n["id"] for n in page["notifications"]}
                if page["next_cursor"] is None:
                    break
                cursor = f"&cursor={page['next_cursor']}"
            assert seen == self.mine[tenant]

    @invariant()
    def nothing_of_another_tenant_changed(self) -> None:
        if not hasattr(self, "client"):
            return
        for tenant, ids in self.mine.items():
            for nid in ids:
                stored = self.store.get(nid, tenant)
                assert stored is not None
                assert (stored.status.value == "cancelled") == (nid in self.cancelled)


TenantsThroughTheApi.TestCase.settings = settings(
    max_examples=25, stateful_step_count=20, deadline=None
)
test_tenants_never_see_change_or_collide_with_each_other = TenantsThroughTheApi.TestCase
