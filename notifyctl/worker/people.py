"""The recipients and templates a worker's claimed notifications to a person need, loaded once
per claimed batch (one store query per tenant for each kind) and kept for a short while, so the
delivery path adds no store round trip per notification (issue 16).

Recipients are kept ``RECIPIENT_TTL_MS``: an opt-out or a new address reaches deliveries within
that time. Templates are read again after ``TEMPLATE_TTL_MS`` but compiled again only when their
version (or creation time, after a delete and re-create) changed: a PUT is seen within that time
and costs one compile per worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from notifyctl.errors import StoreError
from notifyctl.model import Claim, Notification
from notifyctl.personalize import Fail, Personalized, personalize
from notifyctl.recipients import Recipient
from notifyctl.store import Store
from notifyctl.templates import Template, TemplateInvalid, TemplateRecord

log = logging.getLogger("notifyctl.worker")
T = TypeVar("T")
StoreCall = Callable[..., Awaitable[Any]]
RECIPIENT_TTL_MS = 2_000
TEMPLATE_TTL_MS = 10_000
#: entries kept per kind before the expired ones are dropped (and, if still over, all)
MAX_ENTRIES = 50_000
Key = tuple[str, str]  # (tenant, user id or template name)


class Expiring(dict[Key, tuple[int, T]]):
    """Values by key with the time each was loaded; a value may be None (known absent)."""

    def fresh(self, key: Key, now: int, ttl_ms: int) -> bool:
        entry = self.get(key)
        return entry is not None and now - entry[0] < ttl_ms

    def keep(self, key: Key, value: T, now: int, ttl_ms: int) -> None:
        if len(self) >= MAX_ENTRIES:
            for stale in [k for k, (at, _) in self.items() if now - at >= ttl_ms]:
                del self[stale]
            if len(self) >= MAX_ENTRIES:
                self.clear()
        self[key] = (now, value)


class People:
    def __init__(self, store: Store, call: StoreCall, clock: Callable[[], int]) -> None:
        self._store = store
        self._call = call
        self._clock = clock
        self._recipients: Expiring[Recipient | None] = Expiring()
        self._records: Expiring[TemplateRecord | None] = Expiring()
        #: compiled templates by key, with the (version, created_at) they were compiled from
        self._compiled: dict[Key, tuple[tuple[int, int], Template | TemplateInvalid]] = {}
        self._removals: set[asyncio.Task[None]] = set()

    async def load(self, claims: Iterable[Claim]) -> None:
        """Load what these claims need and the cache has not (fresh). A store failure is logged:
        the deliveries it leaves without a recipient are retried (``resolve`` gives None)."""
        personal = [c.notification for c in claims if c.notification.template is not None]
        if not personal:
            return
        now = self._clock()
        users = _missing(personal, lambda n: n.user_id, self._recipients, now, RECIPIENT_TTL_MS)
        names = _missing(personal, lambda n: n.template or "", self._records, now, TEMPLATE_TTL_MS)
        try:
            for tenant, ids in users.items():
                found = await self._call(
                    "recipients_by_ids", self._store.recipients_by_ids, tenant, sorted(ids)
                )
                for user_id in ids:
                    self._recipients.keep(
                        (tenant, user_id), found.get(user_id), now, RECIPIENT_TTL_MS
                    )
            for tenant, wanted in names.items():
                records = await self._call(
                    "templates_by_names", self._store.templates_by_names, tenant, wanted
                )
                for name in wanted:
                    self._records.keep((tenant, name), records.get(name), now, TEMPLATE_TTL_MS)
        except StoreError as exc:
            log.warning("could not load recipients or templates for a claimed batch: %s", exc)

    def resolve(self, n: Notification) -> Personalized | None:
        """What ``n`` (sent to a person) becomes now; None when its recipient or template could
        not be loaded (the store failed: retry)."""
        recipient = self._recipients.get((n.tenant_id, n.user_id))
        record = self._records.get((n.tenant_id, n.template or ""))
        if recipient is None or record is None:
            return None
        template = self._template(record[1])
        if isinstance(template, TemplateInvalid):
            return Fail(f"template {n.template!r} as stored no longer compiles: {template}")
        return personalize(n, recipient[1], template, self._clock())

    def _template(self, record: TemplateRecord | None) -> Template | TemplateInvalid | None:
        if record is None:
            return None
        key, stamp = (record.tenant, record.name), (record.version, record.created_at)
        cached = self._compiled.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            template: Template | TemplateInvalid = Template.parse(record.name, record.document)
        except TemplateInvalid as exc:
            template = exc
        if len(self._compiled) >= MAX_ENTRIES:
            self._compiled.clear()
        self._compiled[key] = (stamp, template)
        return template

    def remove_token(self, n: Notification) -> None:
        """APNs or FCM said ``n``'s device token is no longer valid: take it off the recipient
        (in the background; the outcome is recorded meanwhile) and forget the cached one."""
        if n.to is None:
            return
        task = asyncio.get_running_loop().create_task(self._remove(n, n.to))
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)

    async def _remove(self, n: Notification, token: str) -> None:
        try:
            removed = await self._call(
                "remove_device_tokens", self._store.remove_device_tokens, n.tenant_id, n.user_id,
                [token], self._clock(),
            )  # fmt: skip
        except StoreError as exc:
            log.warning("could not remove %s's invalid %s token: %s", n.user_id, n.channel, exc)
            return
        self._recipients.pop((n.tenant_id, n.user_id), None)
        if removed:
            log.info("removed an invalid %s device token from recipient %s", n.channel, n.user_id)


def _missing(
    notifications: list[Notification],
    name_of: Callable[[Notification], str],
    cache: Expiring[Any],
    now: int,
    ttl_ms: int,
) -> dict[str, set[str]]:
    """By tenant, the names these notifications need that ``cache`` holds no fresh value of."""
    wanted: dict[str, set[str]] = {}
    for n in notifications:
        name = name_of(n)
        if not cache.fresh((n.tenant_id, name), now, ttl_ms):
            wanted.setdefault(n.tenant_id, set()).add(name)
    return wanted
