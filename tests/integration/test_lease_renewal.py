"""Lease renewal, proven with real processes (issue 13 item 7): a delivery that outlasts
LOCK_DURATION_MS five times over keeps its lease while a second worker polls the same store, and
the notification is delivered once and ends sent.

Without renewals the lease would lapse after 600 ms, the polling worker would take the
notification over and the receiver would see it twice. Every wait is bounded; nothing asserts how
long anything took."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifyctl.model import Notification, Status
from notifyctl.store import Store, open_store
from tests.conftest import make_config
from tests.helpers import Receiver, insert, start_worker, stop, wait_until, webhooks

pytestmark = pytest.mark.integration

#: the lease: short, so the delivery below outlasts it five times over
LEASE_MS = 600
#: how long the receiver holds the delivery before it answers 200
HOLD_S = 3.0


def found(store: Store, notification_id: str) -> Notification:
    notification = store.get(notification_id)
    assert notification is not None
    return notification


def test_a_delivery_outlasting_its_lease_is_renewed_and_delivered_once(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, lock_duration_ms=LEASE_MS, idle_poll_ms=50, heartbeat_interval_ms=200
    )
    store = open_store(config)
    with Receiver(lambda attempt: (200, HOLD_S)) as receiver:
        workers = [start_worker(config, n) for n in (1, 2)]
        try:
            # both poll before there is anything to claim: whichever claims it, the other polls
            wait_until(lambda: len(store.workers()) == 2, 60, "both workers registered")
            (nid,) = insert(store, webhooks(receiver.url, 1))
            wait_until(lambda: receiver.counts()[nid] == 1, 30, "the delivery to start")
            seen = [found(store, nid)]

            def settled() -> bool:
                seen.append(found(store, nid))
                changed_hands = seen[-1].lock_version != seen[0].lock_version
                return seen[-1].status is Status.SENT or changed_hands

            wait_until(settled, 30, "it to end sent (or change hands)")
        finally:
            codes = [stop(worker) for worker in workers]
        counts = receiver.counts()
    assert counts == {nid: 1}
    # one holder all along, under one fencing token, whose lease moved on: renewed, never lost
    holder, token, first_expiry = seen[0].locked_by, seen[0].lock_version, seen[0].lock_expiry
    leased = [n for n in seen if n.locked_by is not None]
    assert holder is not None and first_expiry is not None
    assert {(n.locked_by, n.lock_version) for n in leased} == {(holder, token)}
    assert max(n.lock_expiry or 0 for n in leased) > first_expiry
    sent = found(store, nid)
    assert (sent.status, sent.attempts) == (Status.SENT, 1)
    history = store.history(nid)
    assert history is not None
    assert [(h.outcome, h.worker, h.attempt) for h in history] == [("sent", holder, 1)]
    assert codes == [0, 0]
    store.close()
