"""The notification endpoints: create one or a batch (texts given, or a send to a person by
template, ``messages.py``), list, read, cancel. 201 only once the store has the notification.

Reading requests and shaping responses is ``api/io.py``; the app and its routes ``api/app.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp.abc import AbstractResolver
from starlette.requests import Request
from starlette.responses import Response

from notifyctl.api.group_commit import GroupCommit
from notifyctl.api.guard import CHARGE, Charge
from notifyctl.api.intake_dns import IntakeResolver
from notifyctl.api.io import (
    JsonResponse,
    insert_response,
    limits_of,
    list_query,
    read_json,
    tenant_of,
    unavailable_store_is_503,
)
from notifyctl.api.limits import DailyQuota, QuotaGrant
from notifyctl.api.messages import Planned, Sends, get_message, message_response
from notifyctl.api.pauses import IntakePauses
from notifyctl.api.problems import HTTPProblem, invalid, problem_json
from notifyctl.api.ratelimit import BATCH_ITEMS_PER_TOKEN
from notifyctl.broker import Broker, group_wakeups
from notifyctl.channels import missing_settings, offered
from notifyctl.channels.destinations import DestinationPolicy
from notifyctl.config import Config
from notifyctl.fanout import is_person_send
from notifyctl.logs import about
from notifyctl.metrics import ApiMetrics
from notifyctl.model import InsertResult, NewNotification, Status, now_ms
from notifyctl.shapes import notification_json
from notifyctl.store import Store
from notifyctl.store.calls import call as store_call
from notifyctl.store.calls import timed
from notifyctl.tracing import Tracing
from notifyctl.validation import FieldError, Invalid, parse_notification

MAX_BATCH = 1_000
log = logging.getLogger("notifyctl.api")
Parsed = NewNotification | Invalid
BatchItem = NewNotification | Planned | Invalid


class Notifications:
    def __init__(
        self,
        config: Config,
        store: Store,
        broker: Broker,
        metrics: ApiMetrics,
        resolver: AbstractResolver | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.config = config
        #: None when tracing is off: the hot path then pays one ``is None`` per request
        self.tracing = tracing
        self.store = store
        self.broker = broker
        self.metrics = metrics
        policy = DestinationPolicy.from_config(config.webhook_allow)
        self.destinations = IntakeResolver(policy, config.intake_dns_timeout_ms / 1000, resolver)
        self._group_commit = GroupCommit(store.insert_many)
        self.quota = DailyQuota(store, metrics)
        #: what an operator paused is stored ``paused`` (``pauses.py``)
        self.pauses = IntakePauses(store, metrics)
        #: the channels this deployment delivers; a notification on another is refused
        self.channels = offered(config)
        #: sends to a person by template (``messages.py``)
        self.sends = Sends(store, self._store, self.channels, config.max_attempts)

    def count_intake(self, results: list[InsertResult]) -> None:
        created = sum(1 for r in results if r.created)
        self.metrics.intake(created, len(results) - created)
        if log.isEnabledFor(logging.DEBUG):  # a line per notification only when asked for
            for result in results:
                if result.created:
                    log.debug("accepted %s", result.notification.id,
                              extra=about(result.notification, "accepted"))  # fmt: skip

    async def _read_json(self, request: Request) -> Any:
        config = self.config
        return await read_json(request, config.max_body_bytes, config.body_timeout_ms / 1000)

    async def _store(self, method: Any, *args: Any) -> Any:
        with unavailable_store_is_503():
            return await store_call(self.metrics, method.__name__, method, *args)

    async def _parse(
        self, bodies: list[Any], now: int, tenant: str, header_key: str | None = None
    ) -> list[Parsed]:
        """Each body validated (and made the caller's tenant's), then the webhook destinations
        of the valid ones checked together (``IntakeResolver``: concurrently, within one
        deadline)."""
        parsed = [self._validate(body, now, tenant, header_key) for body in bodies]
        webhooks = [p for p in parsed if isinstance(p, NewNotification) and p.channel == "webhook"]
        problems = await self.destinations.problems(p.to for p in webhooks if p.to)
        return [forbidden_or(p, problems) for p in parsed]

    def _validate(self, body: Any, now: int, tenant: str, header_key: str | None) -> Parsed:
        try:
            item = parse_notification(body, now, self.config.max_attempts, header_key)
        except Invalid as exc:
            return exc
        if item.channel not in self.channels:
            missing = ", ".join(missing_settings(self.config, item.channel))
            message = f"channel not configured: this deployment has no {item.channel} settings"
            return Invalid([FieldError("channel", f"{message} ({missing})")])
        return dataclasses.replace(item, tenant_id=tenant)

    def wake_workers(self, results: list[InsertResult], now: int) -> None:
        """Publish what is due now; scheduled ones are found by the workers' sweep."""
        if not self.broker.configured:  # nothing to wake: the workers poll
            return
        wakeups = group_wakeups(
            (r.notification.id, int(r.notification.priority))
            for r in results
            if r.created
            and r.notification.scheduled_for <= now
            and r.notification.status is not Status.PAUSED
        )
        if not wakeups:
            return
        if self.tracing is None:
            self.broker.publish(wakeups)
            return
        with self.tracing.span("broker publish", "PRODUCER", **{"messaging.system": "rabbitmq"}):
            self.broker.publish(wakeups)

    async def create(self, request: Request) -> Response:
        body = await self._read_json(request)
        now = now_ms()
        tenant = tenant_of(request)
        if is_person_send(body):
            return await self._send_to_person(request, body, now, tenant)
        (item,) = await self._parse([body], now, tenant, request.headers.get("idempotency-key"))
        if isinstance(item, Invalid):
            raise invalid(item.errors)
        (item,) = await self.pauses.mark([item])
        grant = await self._take_quota(request, 1) if limits_of(request).daily_quota else None
        if grant is None:  # the common case, kept free of the quota's bookkeeping
            result = await self._insert_one(item)
        else:
            async with self._quota_kept(grant) as created:
                created.append(await self._insert_one(item))
            result = created[0]
        self.wake_workers([result], now)
        self.count_intake([result])
        status, payload = insert_response(result)
        headers = {"Location": f"/v1/notifications/{result.notification.id}"}
        if grant is not None:
            headers.update(grant.headers(given_back=0 if result.created else 1))
        return JsonResponse(payload, status_code=status, headers=headers)

    async def _send_to_person(
        self, request: Request, body: dict[str, Any], now: int, tenant: str
    ) -> Response:
        send = self.sends.parse(body, now, tenant, request.headers.get("idempotency-key"))
        (planned,) = await self.sends.plan([send])
        if isinstance(planned, Invalid):
            raise invalid(planned.errors)
        items = await self.pauses.mark(planned.notifications)
        grant = await self._take_quota(request, len(items))
        async with self._quota_kept(grant) as results:
            results.extend(await self._insert_many(items, now))
        self.wake_workers(results, now)
        self.count_intake(results)
        status, payload = message_response(planned, results)
        headers = {"Location": f"/v1/messages/{payload.get('message_id')}"} if status < 300 else {}
        if grant is not None:
            created = sum(1 for result in results if result.created)
            headers.update(grant.headers(given_back=grant.count - created))
        return JsonResponse(payload, status_code=status, headers=headers)

    async def get_message(self, request: Request) -> Response:
        return await get_message(request, self.store, self._store)

    async def _insert_one(self, item: NewNotification) -> InsertResult:
        if self.tracing is None:
            return await self._grouped_insert(item)
        (traced,) = stamped([item], self.tracing)
        with self.tracing.span("store insert", "CLIENT", **{"db.operation.name": "insert"}):
            return await self._grouped_insert(traced)

    async def _grouped_insert(self, item: NewNotification) -> InsertResult:
        with unavailable_store_is_503(), timed(self.metrics, "insert_grouped"):
            return await self._group_commit.insert(item)

    async def _insert_many(self, items: list[NewNotification], now: int) -> list[InsertResult]:
        if self.tracing is None:
            return list(await self._store(self.store.insert_many, items, now))
        traced = stamped(items, self.tracing)
        with self.tracing.span("store insert", "CLIENT", **{"db.operation.name": "insert_many"}):
            return list(await self._store(self.store.insert_many, traced, now))

    async def _take_quota(self, request: Request, count: int) -> QuotaGrant | None:
        """Count ``count`` new notifications against the tenant's daily quota (429 when they
        do not fit; nothing for a tenant without one)."""
        with unavailable_store_is_503():
            return await self.quota.take(limits_of(request), count)

    @contextlib.asynccontextmanager
    async def _quota_kept(self, grant: QuotaGrant | None) -> AsyncIterator[list[InsertResult]]:
        """Around an insert: what the insert appends to the list it yields keeps its count
        if it was created; the rest of the grant (replays, conflicts, all of it when the insert
        failed) is given back."""
        results: list[InsertResult] = []
        try:
            yield results
        finally:
            if grant is not None:
                created = sum(1 for result in results if result.created)
                await self.quota.give_back(grant, grant.count - created)

    async def create_batch(self, request: Request) -> Response:
        body = await self._read_json(request)
        items = body.get("notifications") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or set(body) != {"notifications"}:
            error = FieldError("notifications", 'the body must be {"notifications": [...]}')
            raise invalid([error])
        if len(items) > MAX_BATCH:
            raise invalid([FieldError("notifications", f"at most {MAX_BATCH} per batch")])
        charge_batch(request.scope.get(CHARGE), len(items))
        now = now_ms()
        parsed = await self._parse_batch(items, now, tenant_of(request))
        valid = await self.pauses.mark([n for p in parsed for n in stored_items(p)])
        grant = await self._take_quota(request, len(valid))
        async with self._quota_kept(grant) as inserted:
            if valid:
                inserted.extend(await self._insert_many(valid, now))
        self.wake_workers(inserted, now)
        self.count_intake(inserted)
        stored = iter(inserted)
        body = {"results": [self._item(p, stored) for p in parsed]}
        if grant is None:
            return JsonResponse(body)
        created = sum(1 for result in inserted if result.created)
        return JsonResponse(body, headers=grant.headers(given_back=grant.count - created))

    async def _parse_batch(self, items: list[Any], now: int, tenant: str) -> list[BatchItem]:
        """Each item: a notification with its texts, or a send to a person planned."""
        plain = [i for i, item in enumerate(items) if not is_person_send(item)]
        personal = [i for i, item in enumerate(items) if is_person_send(item)]
        parsed: dict[int, BatchItem] = {}
        if plain:
            texts = await self._parse([items[i] for i in plain], now, tenant)
            parsed.update(zip(plain, texts, strict=True))
        if personal:
            sends = [self.sends.parse(items[i], now, tenant) for i in personal]
            parsed.update(zip(personal, await self.sends.plan(sends), strict=True))
        return [parsed[i] for i in range(len(items))]

    @staticmethod
    def _item(parsed: BatchItem, stored: Any) -> dict[str, Any]:
        if isinstance(parsed, Invalid):
            return {"status": 422, **problem_json(invalid(parsed.errors))}
        if isinstance(parsed, Planned):
            results = [next(stored) for _ in parsed.notifications]
            status, payload = message_response(parsed, results)
            return (
                {"status": status, **payload}
                if status == 409
                else {"status": status, "message": payload}
            )
        status, payload = insert_response(next(stored))
        if status == 409:
            return {"status": status, **payload}
        return {"status": status, "notification": payload}

    async def list(self, request: Request) -> Response:
        status, user_id, limit, cursor = list_query(request)
        page = await self._store(
            self.store.list_notifications, status, user_id, limit, cursor, tenant_of(request)
        )
        next_cursor = page[-1].id if len(page) == limit else None
        body = {"notifications": [notification_json(n) for n in page], "next_cursor": next_cursor}
        return JsonResponse(body)

    async def get(self, request: Request) -> Response:
        found = await self._store(self.store.get, request.path_params["id"], tenant_of(request))
        if found is None:
            raise HTTPProblem(404, "not_found", "no notification has this id")
        return JsonResponse(notification_json(found))

    async def cancel(self, request: Request) -> Response:
        outcome, found = await self._store(
            self.store.cancel, request.path_params["id"], now_ms(), tenant_of(request)
        )
        if outcome == "not_found":
            raise HTTPProblem(404, "not_found", "no notification has this id")
        if outcome == "conflict":
            busy = " and being delivered" if found.locked_by else ""
            message = f"the notification is {found.status.value}{busy}"
            raise HTTPProblem(409, "not_cancellable", message, [{"status": found.status.value}])
        return JsonResponse(notification_json(found))


def stamped(items: list[NewNotification], tracing: Tracing) -> list[NewNotification]:
    """The items with the current request's trace context, stored for their deliveries."""
    traceparent = tracing.traceparent()
    return [dataclasses.replace(item, traceparent=traceparent) for item in items]


def stored_items(parsed: BatchItem) -> list[NewNotification]:
    """What a batch item stores: its notification, a message's notifications, or nothing."""
    if isinstance(parsed, NewNotification):
        return [parsed]
    if isinstance(parsed, Planned):
        return parsed.notifications
    return []


def forbidden_or(parsed: Parsed, problems: dict[str, str]) -> Parsed:
    """``parsed``, or Invalid when its webhook destination is forbidden."""
    if isinstance(parsed, NewNotification) and parsed.channel == "webhook":
        problem = problems.get(parsed.to or "")
        if problem:
            return Invalid([FieldError("to", f"forbidden destination: {problem}")])
    return parsed


def charge_batch(charge: Charge | None, items: int) -> None:
    """Take a batch's extra tokens (the guard took one for the request), before any work."""
    extra = items // BATCH_ITEMS_PER_TOKEN
    if charge is None or extra == 0:  # rate limiting off, or a small batch
        return
    decision = charge(extra)
    if not decision.allowed:
        message = (f"rate limit exceeded: a batch of {items} costs {extra + 1} requests; retry"
                   f" in {decision.retry_after_s} s or send smaller batches")  # fmt: skip
        raise HTTPProblem(429, "rate_limited", message)
