"""The store contract, each tenant's recipients: stored and read back whole, replaced keeping
their creation time, deleted, listed by user id page after page, written in batches, read many at
once, invalid device tokens removed, and no tenant ever seeing, changing or deleting another's."""

from __future__ import annotations

import dataclasses
from typing import Any

from notifyctl.recipients import Recipient, parse_recipient
from notifyctl.store import Store

APNS = "ab" * 32
FCM = "fcm-token_" + "x" * 30
FULL: dict[str, Any] = {
    "email": "ada@example.com", "phone": "+15551234567",
    "devices": [{"platform": "apns", "token": APNS, "app": "com.example.app"},
                {"platform": "fcm", "token": FCM}],
    "webhooks": ["https://hooks.example.com/ada"], "locale": "pt-BR",
    "timezone": "Europe/Berlin",
    "preferences": {"opted_out": ["marketing"],
                    "channels": {"billing": ["email", "push"], "$odd.name": ["sms"]}},
    "quiet_hours": {"start": "22:00", "end": "07:00"},
}  # fmt: skip


def recipient(
    user_id: str = "u1", tenant: str = "acme", now: int = 1_000, **body: Any
) -> Recipient:
    return parse_recipient(user_id, body or FULL, tenant=tenant, now=now)


def test_a_recipient_round_trips(store: Store) -> None:
    ada = recipient()
    assert store.get_recipient("acme", "u1") is None
    stored = dataclasses.replace(ada, revision=1)
    assert store.put_recipient(ada) == (stored, True)
    assert store.get_recipient("acme", "u1") == stored


def test_a_replacement_keeps_the_creation_time(store: Store) -> None:
    store.put_recipient(recipient())
    newer = recipient(now=5_000, email="grace@example.com")
    stored, created = store.put_recipient(newer)
    assert created is False
    assert stored == dataclasses.replace(newer, created_at=1_000, revision=2)
    assert store.get_recipient("acme", "u1") == stored
    assert stored.devices == () and stored.phone is None  # replaced whole, not merged


def test_a_recipient_is_deleted_once(store: Store) -> None:
    store.put_recipient(recipient())
    assert store.delete_recipient("acme", "u1") is True
    assert store.delete_recipient("acme", "u1") is False
    assert store.get_recipient("acme", "u1") is None


def test_recipients_are_listed_by_user_id_page_after_page(store: Store) -> None:
    ids = ["b", "a", "c/d", "é", "Z", "a0", "aa"]
    for user_id in ids:
        store.put_recipient(recipient(user_id, email=f"{len(user_id)}@example.com"))
    store.put_recipient(recipient("a1", tenant="globex"))
    pages, cursor = [], None
    while True:
        page = store.list_recipients("acme", 3, cursor)
        pages.append([r.user_id for r in page])
        if len(page) < 3:
            break
        cursor = page[-1].user_id
    assert pages == [["Z", "a", "a0"], ["aa", "b", "c/d"], ["é"]]  # code-point order


def test_a_batch_creates_and_replaces_in_order(store: Store) -> None:
    store.put_recipient(recipient("u2"))
    batch = [recipient("u1", now=7_000), recipient("u2", now=7_000, locale="de"),
             recipient("u3", now=7_000)]  # fmt: skip
    results = store.put_recipients(batch)
    assert [created for _, created in results] == [True, False, True]
    assert results[1][0] == dataclasses.replace(batch[1], created_at=1_000, revision=2)
    assert [stored.revision for stored, _ in results] == [1, 2, 1]
    assert store.get_recipient("acme", "u2") == results[1][0]
    assert store.put_recipients([]) == []


def test_many_are_read_at_once_by_user_id(store: Store) -> None:
    store.put_recipients([recipient(f"u{n}") for n in range(5)])
    store.put_recipient(recipient("u9", tenant="globex"))
    found = store.recipients_by_ids("acme", ["u1", "u3", "u3", "nobody", "u9"])
    assert sorted(found) == ["u1", "u3"]
    assert found["u3"] == dataclasses.replace(recipient("u3"), revision=1)
    assert store.recipients_by_ids("acme", []) == {}


def test_tenants_never_see_each_others_recipients(store: Store) -> None:
    acme, _ = store.put_recipient(recipient(tenant="acme"))
    globex = dataclasses.replace(recipient(tenant="globex", email="g@example.com"), revision=1)
    assert store.put_recipient(globex)[1] is True  # the same user id, another tenant's user
    assert store.get_recipient("acme", "u1") == acme
    assert store.get_recipient("globex", "u1") == globex
    assert store.delete_recipient("globex", "u1") is True
    assert store.get_recipient("acme", "u1") == acme
    assert store.list_recipients("globex", 10, None) == []
    assert store.remove_device_tokens("globex", "u1", [APNS], 9_000) == 0
    assert store.get_recipient("acme", "u1") == acme


def test_invalid_device_tokens_are_removed(store: Store) -> None:
    store.put_recipient(recipient())
    assert store.remove_device_tokens("acme", "u1", [APNS, "unknown"], 9_000) == 1
    after = store.get_recipient("acme", "u1")
    assert after is not None and [d.token for d in after.devices] == [FCM]
    assert after.updated_at == 9_000 and after.email == "ada@example.com"
    assert after.revision == 2
    assert store.remove_device_tokens("acme", "u1", [APNS], 9_500) == 0  # gone already
    assert store.remove_device_tokens("acme", "u1", [FCM], 9_900) == 1
    last = store.get_recipient("acme", "u1")
    assert last is not None and last.devices == () and last.updated_at == 9_900
    assert store.remove_device_tokens("acme", "nobody", [FCM], 9_900) == 0
    assert store.get_recipient("acme", "nobody") is None
    assert store.remove_device_tokens("acme", "u1", [], 9_900) == 0


def test_a_replacement_at_a_revision_wins_only_while_it_is_that_revision(store: Store) -> None:
    first, _ = store.put_recipient(recipient())
    patched = dataclasses.replace(first, locale="de", updated_at=2_000)
    assert store.replace_recipient(patched, first.revision) == dataclasses.replace(
        patched, revision=2
    )
    stale = dataclasses.replace(first, locale="fr", updated_at=3_000)
    assert store.replace_recipient(stale, first.revision) is None  # revision 2 now: refused
    current = store.get_recipient("acme", "u1")
    assert current is not None and current.locale == "de" and current.revision == 2
    store.remove_device_tokens("acme", "u1", [APNS], 4_000)  # a write of its own: revision 3
    assert store.replace_recipient(dataclasses.replace(current, locale="it"), 2) is None
    store.delete_recipient("acme", "u1")
    assert store.replace_recipient(current, 3) is None  # gone: not created again
    assert store.get_recipient("acme", "u1") is None
    other = recipient(tenant="globex")
    assert store.replace_recipient(other, 1) is None
