"""The claim state machine's state and invariants, checked after every step.

The rules (``claim_machine``) check what each call alone did; these check the whole store, read
once per step, against what the workers believe and what the oracle (tests/lease_model.py) says.
"""

from __future__ import annotations

from hypothesis.stateful import RuleBasedStateMachine, invariant

from notifyctl.model import TERMINAL, Claim, Notification, Status
from notifyctl.store import Store
from tests import lease_model as model

WORKERS = ("worker-0", "worker-1", "worker-2")


class Checks(RuleBasedStateMachine):
    store: Store
    now: int

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        #: per worker, the claims it believes it holds: one per delivery in flight
        self.held: dict[str, list[Claim]] = {worker: [] for worker in WORKERS}
        #: ids an accepted ``sent`` outcome was written for
        self.sent: set[str] = set()
        #: the terminal status each row reached (a replay takes a dead one out)
        self.terminal: dict[str, Status] = {}
        #: attempts at the last step, and the ids whose attempts may go down in this one
        self.last_attempts: dict[str, int] = {}
        self.attempt_returned: set[str] = set()
        #: ids parked by an accepted ``paused`` outcome, until a resume
        self.paused: set[str] = set()

    def row(self, notification_id: str) -> Notification:
        found = self.store.get(notification_id)
        assert found is not None
        return found

    def snapshot(self) -> dict[str, Notification]:
        return {nid: self.row(nid) for nid in self.ids}

    def check_rows(self, expected: dict[str, Notification]) -> None:
        """Every row is as the oracle expects, in what the rules decide."""
        for nid, row in self.snapshot().items():
            assert model.essentials(row) == model.essentials(expected[nid]), (row, expected[nid])

    @invariant()
    def store_and_beliefs_agree(self) -> None:
        """Read every row once per step, then check each invariant against that snapshot."""
        rows = list(self.snapshot().values())
        self.check_at_most_one_worker_holds_a_live_claim(rows)
        self.check_terminal_notifications_stay_terminal_and_unleased(rows)
        self.check_only_an_accepted_sent_finish_makes_a_notification_sent(rows)
        self.check_attempts_stay_within_max_and_only_a_give_back_or_replay_lowers_them(rows)
        self.check_every_notification_is_terminal_or_becomes_claimable(rows)
        self.check_the_stores_own_view_of_due_and_live_agrees(rows)

    def check_at_most_one_worker_holds_a_live_claim(self, rows: list[Notification]) -> None:
        for row in rows:
            beliefs = [c for held in self.held.values() for c in held if c.id == row.id]
            live = [c for c in beliefs if c.lock_expiry > self.now]
            assert len(live) <= 1, live
            accepted = [
                c for c in beliefs if model.accepts(row, c) and model.lease_is_live(row, self.now)
            ]
            assert len(accepted) <= 1, accepted
            for claim in live:
                assert model.accepts(row, claim), (claim, row)
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

    def check_attempts_stay_within_max_and_only_a_give_back_or_replay_lowers_them(
        self, rows: list[Notification]
    ) -> None:
        for row in rows:
            assert 0 <= row.attempts <= row.max_attempts, row
            if row.attempts < self.last_attempts[row.id]:
                assert row.id in self.attempt_returned, row
            self.last_attempts[row.id] = row.attempts
        self.attempt_returned.clear()

    def check_every_notification_is_terminal_or_becomes_claimable(
        self, rows: list[Notification]
    ) -> None:
        """Nothing is stuck: once its due time and any lease have passed, a row that is not
        terminal is claimable, or out of attempts and so buried by the next claim."""
        for row in rows:
            if row.status in TERMINAL:
                continue
            if row.status is Status.PAUSED:  # claimable again after the resume, not before
                assert row.id in self.paused and row.locked_by is None, row
                continue
            assert row.status in (Status.PENDING, Status.SCHEDULED), row
            assert (row.locked_by is None) == (row.lock_expiry is None), row
            later = max(self.now, row.available_at, row.lock_expiry or 0)
            assert model.is_claimable(row, later) or model.is_exhausted(row, later), row

    def check_the_stores_own_view_of_due_and_live_agrees(self, rows: list[Notification]) -> None:
        """What the store reports (the sweep's wake-up and the metrics read these) is what the
        oracle says of the rows."""
        live = [row for row in rows if model.lease_is_live(row, self.now)]
        assert self.store.counts(self.now)["locked"] == len(live)
        due = [row.available_at for row in rows if model.is_due_and_free(row, self.now)]
        assert self.store.oldest_due(self.now) == (min(due) if due else None)
