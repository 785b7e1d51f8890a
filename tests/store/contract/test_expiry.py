"""The store contract, expiry (issue 17): ``expires_at`` kept; a claim's EXPIRED outcome ends the
notification ``expired`` with the reason, its history saying so, the claim's attempt given back.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from dataclasses import replace

from notifyctl.model import Outcome, Status, Verdict
from notifyctl.store import Store
from tests.store.contract.builders import NOW, WORKER_A, claim_all, current, insert, make


def test_expires_at_is_kept(store: Store) -> None:
    (stored,) = insert(store, replace(make(), expires_at=NOW + 60_000))
    assert stored.expires_at == NOW + 60_000
    assert current(store, stored.id).expires_at == NOW + 60_000
    (never,) = insert(store, make())
    assert current(store, never.id).expires_at is None


def test_an_expired_outcome_is_terminal_and_gives_the_attempt_back(store: Store) -> None:
    insert(store, replace(make(), expires_at=NOW - 1))
    (claim,) = claim_all(store, WORKER_A, NOW)
    report = store.finish([Outcome(claim, Verdict.EXPIRED, "expired at t")], NOW + 1)
    assert report.applied == 1
    gone = current(store, claim.id)
    assert (gone.status, gone.attempts, gone.last_error, gone.locked_by) == (
        Status.EXPIRED, 0, "expired at t", None,
    )  # fmt: skip
    assert [h.outcome for h in store.history(claim.id) or []] == ["expired"]
    assert claim_all(store, WORKER_A, NOW + 10**9) == []
    assert store.counts(NOW)["expired"] == 1
