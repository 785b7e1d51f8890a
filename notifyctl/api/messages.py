"""Sending to a person by template (``POST /v1/notifications`` with ``template``, single or in a
batch) and the report on what became of it (``GET /v1/messages/{message_id}``); issue 16.

Intake reads the template and the recipient (in a batch: one query per tenant for each kind),
checks ``data`` against the template's variables, and stores the fan-out (``fanout.py``) in
one insert. Compiled templates are kept by (version, created_at), so a PUT is seen at once and a
template is compiled once per change, not per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from notifyctl.api.io import JsonResponse, tenant_of
from notifyctl.api.problems import HTTPProblem
from notifyctl.fanout import PersonSend, check_against, fan_out, parse_person_send
from notifyctl.model import TERMINAL, InsertResult, NewNotification, Notification, Status
from notifyctl.recipients import Recipient
from notifyctl.shapes import notification_json
from notifyctl.templates import Template, TemplateInvalid, TemplateRecord
from notifyctl.validation import FieldError, Invalid

#: compiled templates kept at most (by tenant and name)
MAX_COMPILED = 10_000


@dataclass(frozen=True, slots=True)
class Planned:
    """A send to a person, fanned out and ready to store."""

    send: PersonSend
    notifications: list[NewNotification]


class Sends:
    """What the API needs to turn sends by template into notifications."""

    def __init__(self, store: Any, call: Any, offered: Sequence[str], max_attempts: int) -> None:
        self._store = store
        self._call = call
        self._offered = offered
        self._max_attempts = max_attempts
        self._compiled: dict[tuple[str, str], tuple[tuple[int, int], Template]] = {}

    def parse(
        self, body: dict[str, Any], now: int, tenant: str, header_key: str | None = None
    ) -> PersonSend | Invalid:
        try:
            send = parse_person_send(body, now, self._max_attempts, header_key)
        except Invalid as exc:
            return exc
        return replace(send, tenant_id=tenant)

    async def plan(self, sends: Sequence[PersonSend | Invalid]) -> list[Planned | Invalid]:
        """Each valid send fanned out against its template and recipient as stored now."""
        valid = [s for s in sends if isinstance(s, PersonSend)]
        templates, recipients = await self._load(valid)
        return [
            s if isinstance(s, Invalid) else self._plan_one(s, templates, recipients) for s in sends
        ]

    async def _load(
        self, sends: list[PersonSend]
    ) -> tuple[dict[tuple[str, str], TemplateRecord], dict[tuple[str, str], Recipient]]:
        templates: dict[tuple[str, str], TemplateRecord] = {}
        recipients: dict[tuple[str, str], Recipient] = {}
        for tenant in sorted({s.tenant_id for s in sends}):
            mine = [s for s in sends if s.tenant_id == tenant]
            names = {s.template for s in mine}
            users = sorted({s.user_id for s in mine})
            store = self._store
            found = await self._call(store.templates_by_names, tenant, names)
            templates.update({(tenant, name): record for name, record in found.items()})
            people = await self._call(store.recipients_by_ids, tenant, users)
            recipients.update({(tenant, user): r for user, r in people.items()})
        return templates, recipients

    def _plan_one(
        self,
        send: PersonSend,
        templates: dict[tuple[str, str], TemplateRecord],
        recipients: dict[tuple[str, str], Recipient],
    ) -> Planned | Invalid:
        errors = []
        record = templates.get((send.tenant_id, send.template))
        if record is None:
            errors.append(FieldError("template", f"no template named {send.template!r}"))
        recipient = recipients.get((send.tenant_id, send.user_id))
        if recipient is None:
            message = f"no recipient {send.user_id!r}: create it with PUT /v1/recipients/{{id}}"
            errors.append(FieldError("user_id", message))
        if errors:
            return Invalid(errors)
        assert record is not None and recipient is not None
        template = self._template(record)
        if isinstance(template, Invalid):
            return template
        try:
            check_against(send, template)
        except Invalid as exc:
            return exc
        return Planned(send, fan_out(send, template, recipient, self._offered))

    def _template(self, record: TemplateRecord) -> Template | Invalid:
        key, stamp = (record.tenant, record.name), (record.version, record.created_at)
        cached = self._compiled.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            template = Template.parse(record.name, record.document)
        except TemplateInvalid as exc:  # stored by a release with other rules
            message = f"template {record.name!r} as stored no longer compiles ({exc}): PUT it again"
            return Invalid([FieldError("template", message)])
        if len(self._compiled) >= MAX_COMPILED:
            self._compiled.clear()
        self._compiled[key] = (stamp, template)
        return template


def message_response(planned: Planned, results: list[InsertResult]) -> tuple[int, dict[str, Any]]:
    """201 when the message made anything new, 200 when it was all an idempotent replay, 409
    when its key was used with another request."""
    conflict = next((r for r in results if r.conflict), None)
    if conflict is not None:
        message = "this idempotency key was used with a different request"
        details = [{"message_id": conflict.notification.message_id}]
        return 409, {"error": {"code": "idempotency_conflict", "message": message,
                               "details": details}}  # fmt: skip
    status = 201 if any(r.created for r in results) else 200
    return status, message_json([r.notification for r in results])


def message_json(notifications: list[Notification]) -> dict[str, Any]:
    """A message as a whole: its summary status, counts by status, and each notification."""
    first = notifications[0]
    counts: dict[str, int] = {}
    for n in notifications:
        counts[n.status.value] = counts.get(n.status.value, 0) + 1
    return {
        "message_id": first.message_id, "user_id": first.user_id, "template": first.template,
        "category": first.category, "status": message_status(notifications), "counts": counts,
        "notifications": [notification_json(n) for n in notifications],
    }  # fmt: skip


def message_status(notifications: list[Notification]) -> str:
    """``pending`` while any is undecided; then ``sent`` if any reached the person, else
    ``dead`` if any failed, else ``expired`` (too late), else ``suppressed`` (nothing was to be
    sent), else ``cancelled``."""
    statuses = {n.status for n in notifications}
    if statuses - TERMINAL:
        return "pending"
    for status in (Status.SENT, Status.DEAD, Status.EXPIRED, Status.SUPPRESSED):
        if status in statuses:
            return status.value
    return Status.CANCELLED.value


async def get_message(request: Request, store: Any, call: Any) -> Response:
    found = await call(store.message_notifications, request.path_params["id"], tenant_of(request))
    if not found:
        raise HTTPProblem(404, "not_found", "no message has this id")
    return JsonResponse(message_json(found))
