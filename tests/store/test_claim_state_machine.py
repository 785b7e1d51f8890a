"""A stateful property test of claims, leases and fencing over a real SqliteStore.

Three workers claim (by sweep, and by the ids a wake-up names, alone or with the outcomes gathered
so far), renew, finish and stop (interrupting deliveries mid-way, on their last attempt too, or
giving back unstarted ones) while the API cancels, an operator replays dead letters and a logical
clock moves on, sometimes past the lease. Each worker keeps the claims it *believes* it holds, one
per delivery in flight, as a real worker would: a belief only goes away when the worker writes its
outcome or a renewal reports it lost. So a worker whose lease lapsed keeps acting on its stale
claim, even after it (or another worker) claimed the same notification again.

The oracle is tests/lease_model.py. Checked by each step for what its call did (the rules, in
tests/store/claim_machine.py):
  - a claim takes only claimable rows (every named one that is, for a claim by id), buries only
    exhausted ones, and changes no other row; a claim counts an attempt and bumps the token;
  - a write (finish, renewal, stop) by a claim whose (worker, lock_version) is no longer the row's
    is refused, reported and leaves the row unchanged; an accepted one leaves what the oracle says;
  - a replay revives exactly the dead ones it names.
Checked after every step over the whole store (tests/store/claim_machine_checks.py):
  (a) at most one worker believes it holds a live lease on a notification, and that belief is what
      the row says;
  (b) a terminal notification stays so (a replay alone revives a dead one) and holds no lease;
  (c) only an accepted ``sent`` outcome makes a notification sent;
  (d) attempts never exceed max_attempts, and only a release or a replay lowers them;
  (e) every notification is terminal or, once its due time and lease pass, claimable or out of
      attempts (which the next claim buries): nothing is stuck;
  (f) the store's own ``counts`` and ``oldest_due`` agree with the oracle about live and due.
"""

from __future__ import annotations

from hypothesis import settings

from tests.store.claim_machine import ClaimMachine

__all__ = ["ClaimMachine"]

ClaimMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
TestClaimStateMachine = ClaimMachine.TestCase
