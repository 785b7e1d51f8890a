"""The MongoDB store's pure write helpers: what an unordered insert's errors mean."""

from __future__ import annotations

import pytest

from notifyctl.errors import StoreError
from notifyctl.model import Claim, NewNotification, Outcome, Priority, Verdict
from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.writes import (
    finish_report,
    first_of_each_key,
    insert_results,
    refused_for_their_key,
)

KEY_TAKEN = {"code": 11000, "keyPattern": {"idempotency_key": 1}, "errmsg": "dup key"}


def item(number: int, key: str | None) -> NewNotification:
    return NewNotification(
        id=f"id-{number}", user_id="u", channel="log", to=None, title=None, body=None, data={},
        priority=Priority.NORMAL, scheduled_for=1_000, max_attempts=3, idempotency_key=key,
        request_hash=f"hash-{number}", created_at=1_000,
    )  # fmt: skip


def test_refused_positions_are_those_whose_key_exists() -> None:
    details = {"writeErrors": [{**KEY_TAKEN, "index": 2}, {**KEY_TAKEN, "index": 5}]}
    assert refused_for_their_key(details) == [2, 5]


def test_an_id_collision_is_an_error_not_a_replay() -> None:
    details = {"writeErrors": [{"code": 11000, "keyPattern": {"_id": 1}, "index": 0}]}
    with pytest.raises(StoreError, match="mongodb insert"):
        refused_for_their_key(details)


def test_a_write_concern_error_is_an_error_even_beside_replays() -> None:
    details = {"writeErrors": [{**KEY_TAKEN, "index": 0}], "writeConcernErrors": [{"code": 64}]}
    with pytest.raises(StoreError, match="write concern"):
        refused_for_their_key(details)


def test_only_the_first_item_of_each_key_is_sent() -> None:
    items = [item(1, "a"), item(2, None), item(3, "a"), item(4, None), item(5, "b")]
    assert [i.id for i in first_of_each_key(items)] == ["id-1", "id-2", "id-4", "id-5"]


def test_a_refused_item_whose_holder_vanished_is_an_error() -> None:
    with pytest.raises(StoreError, match="retry"):
        insert_results([item(1, "a")], {"id-1"}, {}, 1_000)


def claim(version: int) -> Claim:
    notification = schema.to_notification(schema.new_document(item(1, None), 1_000))
    return Claim(notification, "worker-a", version, 31_000)


def test_a_finish_credits_only_the_claim_whose_version_got_through_and_only_once() -> None:
    stale, fresh = Outcome(claim(1), Verdict.DEAD), Outcome(claim(2), Verdict.SENT)
    report = finish_report([stale, fresh, fresh], {"id-1": 2})
    assert (report.applied, report.stale) == (1, ("id-1", "id-1"))
    assert finish_report([fresh], {}).stale == ("id-1",)
