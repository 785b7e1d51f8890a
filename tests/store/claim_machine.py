"""The claim state machine's rules: what three workers, an API and an operator do to a store.

See tests/store/test_claim_state_machine.py for what is checked and why. Each rule acts as the real
caller would (a worker's sweep, its wake-up claims with the outcomes gathered so far, its flush,
its renewals, its stop; the API's cancel; an operator's replay) and checks what that call alone
must have done against the oracle (tests/lease_model.py); the invariants in
``claim_machine_checks`` then check the whole store against the workers' beliefs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import replace

from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

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
from tests import lease_model as model
from tests.store.claim_machine_checks import WORKERS, Checks

START = 1_800_000_000_000
#: outcomes that give the claim's attempt back: unstarted (release) or cut short by a stop
GIVE_BACK = (
    Verdict.RELEASE,
    Verdict.INTERRUPTED,
    Verdict.SUPPRESSED,
    Verdict.DEFERRED,
    Verdict.EXPIRED,
    Verdict.PAUSED,
)
LEASE = 1_000
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
BACKOFFS = st.integers(0, 2 * LEASE)


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


def has_a_dead_one(machine: ClaimMachine) -> bool:
    return Status.DEAD in machine.terminal.values()


class ClaimMachine(Checks):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory(dir=SCRATCH_DIR)
        self.store = SqliteStore(f"sqlite:///{self.tmp.name}/claims.db", synchronous="off")
        self.now = START

    def teardown(self) -> None:
        self.store.close()
        self.tmp.cleanup()

    def draw_holder(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from([w for w in WORKERS if self.held[w]]), label="worker")

    def draw_ids(self, data: st.DataObject) -> list[str]:
        """Ids a wake-up names: any of them, a repeat now and then."""
        return data.draw(st.lists(st.sampled_from(self.ids), min_size=1, max_size=4), label="ids")

    def draw_outcomes(self, data: st.DataObject, worker: str, min_size: int) -> list[Outcome]:
        """Outcomes of some of ``worker``'s deliveries, which it then no longer believes held."""
        held = self.held[worker]
        picks = data.draw(
            st.lists(st.integers(0, len(held) - 1), min_size=min_size, max_size=len(held),
                     unique=True),
            label="claims",
        )  # fmt: skip
        self.held[worker] = [claim for i, claim in enumerate(held) if i not in picks]
        outcomes = []
        for claim in (held[i] for i in picks):
            verdict, backoff = data.draw(VERDICTS), data.draw(BACKOFFS)
            error = f"{verdict} by {worker}"
            outcomes.append(Outcome(claim, verdict, error, retry_at=self.now + backoff))
        return outcomes

    @initialize(plans=PLANS)
    def insert(self, plans: list[tuple[Priority, int, int]]) -> None:
        items = [
            new_notification(n, priority, max_attempts, START + due)
            for n, (priority, max_attempts, due) in enumerate(plans)
        ]
        results = self.store.insert_many(items, START)
        assert all(result.created for result in results)
        self.ids = [item.id for item in items]
        self.last_attempts = dict.fromkeys(self.ids, 0)

    @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 3), wait=POLL_WAITS)
    def claim(self, worker: str, limit: int, wait: int) -> None:
        """A worker's sweep."""
        self.now += wait
        before, buried = self.snapshot(), []
        claims = self.store.claim_batch(worker, limit, self.now, LEASE, buried)
        self.check_claims(worker, claims, buried, before, named=None)
        assert len(claims) <= limit
        candidates = [row for row in before.values() if model.is_claimable(row, self.now)]
        if not any(model.is_exhausted(row, self.now) for row in before.values()):
            assert len(claims) == min(limit, len(candidates)), (claims, before)

    @rule(worker=st.sampled_from(WORKERS), data=st.data())
    def claim_ids(self, worker: str, data: st.DataObject) -> None:
        """A worker's claim of the ids a wake-up named."""
        named, before, buried = self.draw_ids(data), self.snapshot(), []
        claims = self.store.claim_ids(named, worker, self.now, LEASE, buried)
        self.check_claims(worker, claims, buried, before, named)

    @rule(worker=st.sampled_from(WORKERS), data=st.data())
    def finish_and_claim_ids(self, worker: str, data: st.DataObject) -> None:
        """A worker's hot path: the outcomes gathered so far, then the next wake-up's ids."""
        outcomes = self.draw_outcomes(data, worker, min_size=0) if self.held[worker] else []
        named, before, buried = self.draw_ids(data), self.snapshot(), []
        accepted, expected = self.accepted_in_order(outcomes, before)
        report, claims = self.store.finish_and_claim_ids(
            outcomes, named, worker, self.now, LEASE, buried
        )
        self.check_report(report, outcomes, accepted, before)
        touched = {c.id for c in claims} | {n.id for n in buried}
        self.check_stale_rows_unchanged(outcomes, accepted, before, touched)
        self.check_claims(worker, claims, buried, expected, named)

    @precondition(holds_a_claim)
    @rule(data=st.data())
    def renew(self, data: st.DataObject) -> None:
        worker = self.draw_holder(data)
        held = self.held[worker]
        before = self.snapshot()
        lost = self.store.renew(held, self.now, LEASE)
        kept = [claim for claim in held if model.accepts(before[claim.id], claim)]
        expected_lost = [claim.id for claim in held if not model.accepts(before[claim.id], claim)]
        assert sorted(lost) == sorted(expected_lost), (held, before, lost)
        for nid in set(lost) - {claim.id for claim in kept}:
            assert self.row(nid) == before[nid], "a lost renewal changed the row"
        self.held[worker] = [replace(claim, lock_expiry=self.now + LEASE) for claim in kept]

    @rule(step=STEPS)
    def advance_time(self, step: int) -> None:
        self.now += step

    @precondition(holds_a_claim)
    @rule(data=st.data())
    def finish(self, data: st.DataObject) -> None:
        """A worker records the outcomes of some of its deliveries in one write, like its flush."""
        worker = self.draw_holder(data)
        self.write(self.draw_outcomes(data, worker, min_size=1))

    @precondition(holds_a_claim)
    @rule(data=st.data())
    def stop(self, data: st.DataObject) -> None:
        """A worker stops: each delivery it holds was cut short mid-way (an interrupted attempt,
        on the last attempt too) or never started (given back), all written in one call."""
        worker = self.draw_holder(data)
        held, self.held[worker] = self.held[worker], []
        started = data.draw(st.lists(st.booleans(), min_size=len(held), max_size=len(held)))
        self.write(
            [
                model.interrupted(claim, self.now) if began else Outcome(claim, Verdict.RELEASE)
                for claim, began in zip(held, started, strict=True)
            ]
        )

    def write(self, outcomes: Sequence[Outcome]) -> None:
        before = self.snapshot()
        accepted, expected = self.accepted_in_order(outcomes, before)
        report = self.store.finish(outcomes, self.now)
        self.check_report(report, outcomes, accepted, before)
        self.check_stale_rows_unchanged(outcomes, accepted, before)
        self.check_rows(expected)

    def accepted_in_order(
        self, outcomes: Sequence[Outcome], before: dict[str, Notification]
    ) -> tuple[list[bool], dict[str, Notification]]:
        """Each outcome is fenced in order: which are accepted, and the rows they leave."""
        rows = dict(before)
        accepted: list[bool] = []
        for outcome in outcomes:
            row = rows[outcome.claim.id]
            accepted.append(model.accepts(row, outcome.claim))
            if accepted[-1]:
                rows[row.id] = model.after_outcome(row, outcome, self.now)
        return accepted, rows

    def check_report(
        self,
        report: FinishReport,
        outcomes: Sequence[Outcome],
        accepted: list[bool],
        before: dict[str, Notification],
    ) -> None:
        stale = tuple(o.claim.id for o, ok in zip(outcomes, accepted, strict=True) if not ok)
        assert report == FinishReport(sum(accepted), stale), (report, outcomes, before)
        written = [o for o, ok in zip(outcomes, accepted, strict=True) if ok]
        self.sent |= {o.claim.id for o in written if o.verdict is Verdict.SENT}
        self.attempt_returned |= {o.claim.id for o in written if o.verdict in GIVE_BACK}
        self.paused |= {o.claim.id for o in written if o.verdict is Verdict.PAUSED}

    def check_stale_rows_unchanged(
        self,
        outcomes: Sequence[Outcome],
        accepted: list[bool],
        before: dict[str, Notification],
        claimed_since: Collection[str] = (),
    ) -> None:
        """A row only stale outcomes named is exactly as it was (unless claimed or buried
        since)."""
        written = {o.claim.id for o, ok in zip(outcomes, accepted, strict=True) if ok}
        for nid in {o.claim.id for o in outcomes} - written - set(claimed_since):
            assert self.row(nid) == before[nid], "a stale write changed the row"

    @precondition(lambda machine: bool(machine.paused))
    @rule()
    def resume(self) -> None:
        """An operator resumes what a worker parked for a pause (``notifyctl resume``)."""
        before = self.snapshot()
        # those still paused: a paused one may have been cancelled since
        paused = {nid for nid, row in before.items() if row.status is Status.PAUSED}
        assert paused <= self.paused
        assert self.store.unpark(self.now, [], 2) == len(paused)  # batches of 2
        expected = {
            nid: model.after_resume(row, self.now) if nid in paused else row
            for nid, row in before.items()
        }
        self.paused.clear()
        self.check_rows(expected)

    @precondition(has_a_dead_one)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """An operator replays dead letters (``dlq replay``), naming others too by mistake."""
        named, before = self.draw_ids(data), self.snapshot()
        replayed = self.store.replay(named, self.now)
        dead = {nid for nid in named if before[nid].status == Status.DEAD}
        assert sorted(replayed) == sorted(dead), (replayed, named, before)
        expected = dict(before)
        for nid in replayed:
            expected[nid] = model.after_replay(before[nid], self.now)
            del self.terminal[nid]
            self.attempt_returned.add(nid)
        self.check_rows(expected)

    @precondition(holds_a_claim)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        """Cancel a notification some worker believes it holds: the race that matters."""
        believed = sorted({claim.id for held in self.held.values() for claim in held})
        nid = data.draw(st.sampled_from(believed), label="notification")
        before = self.row(nid)
        outcome, after = self.store.cancel(nid, self.now)
        if before.status in TERMINAL or model.lease_is_live(before, self.now):
            assert outcome == "conflict"
            assert after == before
        else:
            assert outcome == "cancelled"

    def check_claims(
        self,
        worker: str,
        claims: list[Claim],
        buried: list[Notification],
        before: dict[str, Notification],
        named: list[str] | None,
    ) -> None:
        """What one claim call may do: lease claimable rows (all those named, if named), bury
        exhausted ones, and touch nothing else."""
        assert len({claim.id for claim in claims}) == len(claims)
        expected = dict(before)
        for claim in claims:
            row = before[claim.id]
            assert model.is_claimable(row, self.now), row
            assert named is None or claim.id in named
            assert (claim.worker_id, claim.lock_expiry) == (worker, self.now + LEASE)
            assert claim.lock_version == row.lock_version + 1
            assert claim.notification.attempts == row.attempts + 1
            expected[claim.id] = claim.notification
            self.held[worker].append(claim)
        for dead in buried:
            assert model.is_exhausted(before[dead.id], self.now), before[dead.id]
            assert named is None or dead.id in named
            assert dead.status == Status.DEAD and dead.locked_by is None
            expected[dead.id] = dead
        if named is not None:
            claimable = {nid for nid in named if model.is_claimable(before[nid], self.now)}
            assert {claim.id for claim in claims} == claimable, (named, before)
        self.check_rows(expected)
