"""A stateful property test of claims, leases and fencing over a real SqliteStore.

Three workers claim, renew, finish and cancel a handful of notifications while a logical clock
moves on, sometimes past the lease. Each worker keeps the claims it *believes* it holds, one per
delivery in flight, as a real worker would: a belief only goes away when the worker finishes the
claim or a renewal reports it lost. So a worker whose lease lapsed keeps acting on its stale claim,
even after it (or another worker) claimed the same notification again.

Checked after every step (the snapshot invariants) or by the step itself (writes):
  (a) at most one worker believes it holds a live lease on a notification, and that belief is what
      the row says; at most one believed claim is one the store would accept while the lease lives;
  (b) a finish or renewal by a claim whose (worker, lock_version) is no longer the row's is refused,
      reported, and leaves the row unchanged;
  (c) a terminal notification (sent, dead, cancelled) stays so and is never claimed again;
  (d) attempts never exceed max_attempts.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from notifyctl.model import (
    TERMINAL,
    Claim,
    FinishReport,
    NewNotification,
    Notification,
    Outcome,
    Priority,
    Status,
    Verdict,
)
from notifyctl.store.sqlite import SqliteStore
from tests.lease_model import accepts, is_claimable

START = 1_800_000_000_000
LEASE = 1_000
WORKERS = ("worker-0", "worker-1", "worker-2")
#: every example opens a fresh database: in RAM where the OS offers it, to spare the disk syncs
SCRATCH_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None

#: (priority, max_attempts, due after START) of each notification: few, so that workers collide
PLANS = st.lists(
    st.tuples(
        st.sampled_from(Priority), st.integers(1, 4), st.sampled_from([0, LEASE // 2, LEASE])
    ),
    min_size=3,
    max_size=5,
)
#: how long a worker waits before it polls again
POLL_WAITS = st.sampled_from([0, LEASE // 2, LEASE])
VERDICTS = st.sampled_from(Verdict)
#: steps within a lease, to its exact expiry, and past it
STEPS = st.sampled_from([1, LEASE // 3, LEASE // 2, LEASE - 1, LEASE, LEASE + 1, 2 * LEASE])


def new_notification(
    number: int, priority: Priority, max_attempts: int, due: int
) -> NewNotification:
    return NewNotification(
        id=f"n{number}", user_id="user-1", channel="log", to=None, title=None, body=None,
        data={"n": number}, priority=priority, scheduled_for=due, max_attempts=max_attempts,
        idempotency_key=None, request_hash=f"hash-{number}", created_at=START,
    )  # fmt: skip


def holds_a_claim(machine: ClaimMachine) -> bool:
    return any(machine.held.values())


class ClaimMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory(dir=SCRATCH_DIR)
        self.store = SqliteStore(f"sqlite:///{self.tmp.name}/claims.db", synchronous="off")
        self.now = START
        self.ids: list[str] = []
        #: per worker, the claims it believes it holds: one per delivery in flight
        self.held: dict[str, list[Claim]] = {worker: [] for worker in WORKERS}
        self.sent: set[str] = set()
        self.terminal: dict[str, Status] = {}

    def teardown(self) -> None:
        self.store.close()
        self.tmp.cleanup()

    def row(self, notification_id: str) -> Notification:
        found = self.store.get(notification_id)
        assert found is not None
        return found

    def rows(self) -> list[Notification]:
        return [self.row(nid) for nid in self.ids]

    def draw_holder(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from([w for w in WORKERS if self.held[w]]), label="worker")

    @initialize(plans=PLANS)
    def insert(self, plans: list[tuple[Priority, int, int]]) -> None:
        items = [
            new_notification(n, priority, max_attempts, START + due)
            for n, (priority, max_attempts, due) in enumerate(plans)
        ]
        results = self.store.insert_many(items, START)
        assert all(result.created for result in results)
        self.ids = [item.id for item in items]

    @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 3), wait=POLL_WAITS)
    def claim(self, worker: str, limit: int, wait: int) -> None:
        self.now += wait
        before = {row.id: row for row in self.rows()}
        claims = self.store.claim_batch(worker, limit, self.now, LEASE)
        assert len(claims) <= limit
        assert len({claim.id for claim in claims}) == len(claims)
        for claim in claims:
            assert claim.id not in self.terminal, f"terminal {claim.id} was claimed"
            assert is_claimable(before[claim.id], self.now), before[claim.id]
            assert claim.worker_id == worker
            assert claim.lock_expiry == self.now + LEASE
            assert claim.lock_version > before[claim.id].lock_version
            assert claim.notification.attempts == before[claim.id].attempts + 1
            self.held[worker].append(claim)

    @precondition(holds_a_claim)
    @rule(data=st.data())
    def renew(self, data: st.DataObject) -> None:
        worker = self.draw_holder(data)
        held = self.held[worker]
        before = {claim.id: self.row(claim.id) for claim in held}
        lost = self.store.renew(held, self.now, LEASE)
        kept = [claim for claim in held if accepts(before[claim.id], claim)]
        expected_lost = [claim.id for claim in held if not accepts(before[claim.id], claim)]
        assert sorted(lost) == sorted(expected_lost), (held, before, lost)
        for nid in set(lost) - {claim.id for claim in kept}:
            assert self.row(nid) == before[nid], "a lost renewal changed the row"
        self.held[worker] = [replace(claim, lock_expiry=self.now + LEASE) for claim in kept]

    @rule(step=STEPS)
    def advance_time(self, step: int) -> None:
        self.now += step

    @precondition(holds_a_claim)
    @rule(data=st.data(), backoff=st.integers(0, 2 * LEASE))
    def finish(self, data: st.DataObject, backoff: int) -> None:
        """A worker records the outcomes of some of its deliveries in one write, like its flush."""
        worker = self.draw_holder(data)
        held = self.held[worker]
        picks = data.draw(
            st.lists(st.integers(0, len(held) - 1), min_size=1, max_size=len(held), unique=True),
            label="claims",
        )
        claims = [held[i] for i in picks]
        self.held[worker] = [claim for i, claim in enumerate(held) if i not in picks]
        verdicts = data.draw(st.lists(VERDICTS, min_size=len(claims), max_size=len(claims)))
        outcomes = [
            Outcome(claim, verdict, error=f"{verdict} by {worker}", retry_at=self.now + backoff)
            for claim, verdict in zip(claims, verdicts, strict=True)
        ]
        before = {claim.id: self.row(claim.id) for claim in claims}
        accepted = self.accepted_in_order(outcomes, before)
        stale = tuple(o.claim.id for o, ok in zip(outcomes, accepted, strict=True) if not ok)
        report = self.store.finish(outcomes, self.now)
        assert report == FinishReport(sum(accepted), stale), (report, outcomes, before)
        written = [o for o, ok in zip(outcomes, accepted, strict=True) if ok]
        for nid in before.keys() - {o.claim.id for o in written}:
            assert self.row(nid) == before[nid], "a stale finish changed the row"
        self.sent |= {o.claim.id for o in written if o.verdict is Verdict.SENT}

    @staticmethod
    def accepted_in_order(outcomes: list[Outcome], before: dict[str, Notification]) -> list[bool]:
        """Each outcome is fenced in order; an accepted one clears the lease for those after it."""
        rows = dict(before)
        accepted: list[bool] = []
        for outcome in outcomes:
            row = rows[outcome.claim.id]
            accepted.append(accepts(row, outcome.claim))
            if accepted[-1]:
                rows[row.id] = replace(row, locked_by=None, lock_expiry=None)
        return accepted

    @precondition(holds_a_claim)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        """Cancel a notification some worker believes it holds: the race that matters."""
        believed = sorted({claim.id for held in self.held.values() for claim in held})
        nid = data.draw(st.sampled_from(believed), label="notification")
        before = self.row(nid)
        outcome, after = self.store.cancel(nid, self.now)
        if before.status in TERMINAL or before.is_locked(self.now):
            assert outcome == "conflict"
            assert after == before
        else:
            assert outcome == "cancelled"

    @invariant()
    def store_and_beliefs_agree(self) -> None:
        """Read every row once per step, then check each invariant against that snapshot."""
        rows = self.rows()
        self.check_at_most_one_worker_holds_a_live_claim(rows)
        self.check_terminal_notifications_stay_terminal_and_unleased(rows)
        self.check_only_an_accepted_sent_finish_makes_a_notification_sent(rows)
        self.check_attempts_never_exceed_max_attempts(rows)

    def check_at_most_one_worker_holds_a_live_claim(self, rows: list[Notification]) -> None:
        for row in rows:
            beliefs = [c for held in self.held.values() for c in held if c.id == row.id]
            live = [c for c in beliefs if c.lock_expiry > self.now]
            assert len(live) <= 1, live
            accepted = [c for c in beliefs if accepts(row, c) and row.is_locked(self.now)]
            assert len(accepted) <= 1, accepted
            for claim in live:
                assert accepts(row, claim), (claim, row)
                assert row.lock_expiry == claim.lock_expiry, (claim, row)
                assert row.status not in TERMINAL, row

    def check_terminal_notifications_stay_terminal_and_unleased(
        self, rows: list[Notification]
    ) -> None:
        for row in rows:
            if row.id in self.terminal:
                assert row.status == self.terminal[row.id], row
            elif row.status in TERMINAL:
                self.terminal[row.id] = row.status
            if row.status in TERMINAL:
                assert row.locked_by is None, row

    def check_only_an_accepted_sent_finish_makes_a_notification_sent(
        self, rows: list[Notification]
    ) -> None:
        assert {row.id for row in rows if row.status == Status.SENT} == self.sent

    def check_attempts_never_exceed_max_attempts(self, rows: list[Notification]) -> None:
        for row in rows:
            assert 0 <= row.attempts <= row.max_attempts, row


ClaimMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
TestClaimStateMachine = ClaimMachine.TestCase
