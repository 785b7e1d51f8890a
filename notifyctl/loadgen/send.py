"""One request of a load run: its body, its single send, and the outcome of each notification.

The body is built from a per-run template (formatting is several times cheaper than json.dumps
per notification). An answer is sorted into one outcome per notification; when the service may
have kept notifications despite a failure (a timeout after sending, a reset, a 5xx), their
sequence numbers go to the ledger as ambiguous, for the sink to settle.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from notifyctl.loadgen.http import Client, RequestFailed
from notifyctl.loadgen.plan import Plan
from notifyctl.loadgen.sink import Ledger
from notifyctl.loadgen.stats import AMBIGUOUS, Stats

log = logging.getLogger("notifyctl.loadgen")


class Sender:
    """Builds one request, sends it once, and sorts its answer into one outcome per notification."""

    def __init__(
        self, plan: Plan, stats: Stats, ledger: Ledger | None, client: Client,
        sink_url: str | None,
    ) -> None:  # fmt: skip
        self.plan, self.stats, self.ledger, self.client = plan, stats, ledger, client
        self.batched = plan.batch > 1
        self.path = "/v1/notifications/batch" if self.batched else "/v1/notifications"
        self.template = notification_template(plan, sink_url)
        self.wall_offset = time.time() - time.monotonic()

    def body(self, first: int, users: Sequence[int], due: float) -> bytes:
        due_ms = int((due + self.wall_offset) * 1000)
        fill = self.template
        items = [fill % (user, seq, seq, due_ms, seq) for seq, user in enumerate(users, first)]
        if self.batched:
            return ('{"notifications":[' + ",".join(items) + "]}").encode()
        return items[0].encode()

    async def send(self, first: int, users: Sequence[int], due: float) -> None:
        body = self.body(first, users, due)
        started = time.monotonic()
        self.stats.started(len(users), started - due)
        try:
            response = await self.client.post(self.path, body)
        except Exception as exc:  # any failure is an outcome to count, never a crash
            done = time.monotonic()
            self.settle(first, len(users), failure_outcome(exc))
            self.stats.finished(False, done - due, done - started)
            return
        done = time.monotonic()
        self.sort_answer(first, len(users), response.status, response.body, done)
        self.stats.finished(200 <= response.status < 300, done - due, done - started)

    def sort_answer(self, first: int, size: int, status: int, raw: bytes, done: float) -> None:
        if status not in (200, 201) or (self.batched and status != 200):
            self.settle(first, size, f"http_{status}")
            return
        try:
            results = read_results(raw, size) if self.batched else [(status, read_id(raw))]
        except (ValueError, KeyError, TypeError):
            self.settle(first, size, "bad_response")
            return
        accepted = Counter[str]()
        for seq, (item_status, notification_id) in enumerate(results, first):
            if notification_id is None:
                self.settle(seq, 1, f"http_{item_status}")
                continue
            accepted["created" if item_status == 201 else "replayed"] += 1
            if self.ledger is not None:
                self.ledger.accept(notification_id, seq, done)
        self.stats.outcomes.update(accepted)

    def settle(self, first: int, size: int, outcome: str) -> None:
        """Count a failure; if the service may have kept the notifications, the sink decides."""
        self.stats.count(outcome, size)
        maybe_stored = outcome in AMBIGUOUS or outcome.startswith("http_5")
        if self.ledger is not None and maybe_stored:
            self.ledger.ambiguous.update(range(first, first + size))


def notification_template(plan: Plan, sink_url: str | None) -> str:
    """One notification as JSON text with %d slots for (user, seq, seq, due_ms, seq): building
    the body by formatting is several times cheaper than json.dumps of a dict per notification."""
    run = plan.run_id
    item: dict[str, Any] = {
        "user_id": "user-@U@",
        "channel": plan.channel,
        "title": f"loadgen {run} #@T@",
        "data": {"run": run, "seq": "@S@", "due_ms": "@D@"},
        "idempotency_key": f"{run}:@K@",
    }
    if sink_url is not None:
        item["to"] = sink_url
    text = json.dumps(item, separators=(",", ":")).replace("%", "%%")
    for token in ("@U@", "@T@", '"@S@"', '"@D@"', "@K@"):
        if text.count(token) != 1:
            raise ValueError(f"cannot build a request template around {token}: {text}")
        text = text.replace(token, "%d")
    return text


def read_id(raw: bytes) -> str:
    notification_id = json.loads(raw)["id"]
    if not isinstance(notification_id, str):
        raise TypeError("the notification id must be a string")
    return notification_id


def read_results(raw: bytes, size: int) -> list[tuple[int, str | None]]:
    """(status, id) per item of a batch answer, id None for a refused item; ValueError etc. when
    the answer does not have one well-formed result per notification."""
    results = json.loads(raw)["results"]
    if len(results) != size:
        raise ValueError("one result per notification expected")
    read: list[tuple[int, str | None]] = []
    for result in results:
        status = result["status"]
        if not isinstance(status, int):
            raise TypeError("a result status must be an integer")
        accepted = status in (200, 201)
        notification_id = result["notification"]["id"] if accepted else None
        if accepted and not isinstance(notification_id, str):
            raise TypeError("the notification id must be a string")
        read.append((status, notification_id))
    return read


def failure_outcome(exc: Exception) -> str:
    if isinstance(exc, RequestFailed):
        return exc.kind
    log.warning("request failed unexpectedly: %r", exc)
    return "client_error"
