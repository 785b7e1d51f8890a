"""The recipients' endpoints (issue 16): each tenant keeps its users' addresses, devices and
preferences here, and sees only its own (another tenant's recipient is a 404, as an unknown one).

``PUT /v1/recipients/{user_id}`` creates (201) or replaces (200) one; ``PATCH`` merges a JSON
merge patch (RFC 7396) into the stored one (404 when there is none); ``GET`` and ``DELETE`` (204)
one; ``GET /v1/recipients`` pages through them by user id; ``POST /v1/recipients/batch`` creates
or replaces up to ``MAX_BATCH``, answering per item. Webhook URLs pass the same SSRF check as a
notification's (``IntakeResolver``). The rules of the fields are ``notifyctl/recipients.py``'s.

A PATCH reads, merges and writes only while the recipient is still the revision it read
(``Store.replace_recipient``): when another write came between, it merges again, so two PATCHes
at once both take effect. Two PUTs at once: the last one wins, as a replacement should.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from notifyctl.api.guard import CHARGE
from notifyctl.api.intake_dns import IntakeResolver
from notifyctl.api.io import JsonResponse, read_json, tenant_of, unavailable_store_is_503
from notifyctl.api.notifications import MAX_BATCH, charge_batch
from notifyctl.api.problems import HTTPProblem, invalid, problem_json
from notifyctl.config import Config
from notifyctl.model import now_ms
from notifyctl.recipient_json import recipient_json
from notifyctl.recipients import Recipient, parse_recipient, user_id_problem
from notifyctl.store import Store
from notifyctl.store.calls import CallObserver
from notifyctl.store.calls import call as store_call
from notifyctl.validation import FieldError, Invalid

DEFAULT_PAGE, MAX_PAGE = 100, 200
#: a PATCH merges again into a recipient another write changed meanwhile, this many times
PATCH_TRIES = 3
Endpoint = Callable[[Request], Awaitable[Response]]
NOT_FOUND = "no recipient has this user id"


class Recipients:
    def __init__(
        self,
        config: Config,
        store: Store,
        observer: CallObserver,
        destinations: IntakeResolver,
    ) -> None:
        self.config, self.store, self.observer = config, store, observer
        self.destinations = destinations

    async def _read_json(self, request: Request) -> Any:
        config = self.config
        return await read_json(request, config.max_body_bytes, config.body_timeout_ms / 1000)

    async def _store(self, method: Callable[..., Any], *args: Any) -> Any:
        with unavailable_store_is_503():
            return await store_call(self.observer, method.__name__, method, *args)

    async def _forbidden(self, recipients: Sequence[Recipient]) -> dict[str, str]:
        """Each webhook URL of ``recipients`` that may not be reached, with why (one deadline
        for all of them)."""
        return await self.destinations.problems(url for r in recipients for url in r.webhooks)

    async def put(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        body = await self._read_json(request)
        recipient = await self._checked(user_id, body, tenant_of(request))
        stored, created = await self._store(self.store.put_recipient, recipient)
        headers = {"Location": f"/v1/recipients/{quote(user_id, safe='')}"} if created else None
        return JsonResponse(recipient_json(stored), 201 if created else 200, headers=headers)

    async def patch(self, request: Request) -> Response:
        user_id, tenant = request.path_params["user_id"], tenant_of(request)
        body = await self._read_json(request)
        for _ in range(PATCH_TRIES):
            existing = await self._found(tenant, user_id)
            recipient = await self._checked(user_id, body, tenant, existing)
            replace = self.store.replace_recipient
            stored = await self._store(replace, recipient, existing.revision)
            if stored is not None:
                return JsonResponse(recipient_json(stored))
        message = "the recipient kept changing while this PATCH merged into it: send it again"
        raise HTTPProblem(409, "conflict", message)

    async def get(self, request: Request) -> Response:
        found = await self._found(tenant_of(request), request.path_params["user_id"])
        return JsonResponse(recipient_json(found))

    async def delete(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        _checked_user_id(user_id)
        if not await self._store(self.store.delete_recipient, tenant_of(request), user_id):
            raise HTTPProblem(404, "not_found", NOT_FOUND)
        return Response(status_code=204)

    async def list(self, request: Request) -> Response:
        limit, cursor = page_query(request)
        page = await self._store(self.store.list_recipients, tenant_of(request), limit, cursor)
        next_cursor = page[-1].user_id if len(page) == limit else None
        return JsonResponse({"recipients": [recipient_json(r) for r in page],
                             "next_cursor": next_cursor})  # fmt: skip

    async def batch(self, request: Request) -> Response:
        body = await self._read_json(request)
        items = body.get("recipients") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or set(body) != {"recipients"}:
            raise invalid([FieldError("recipients", 'the body must be {"recipients": [...]}')])
        if len(items) > MAX_BATCH:
            raise invalid([FieldError("recipients", f"at most {MAX_BATCH} per batch")])
        charge_batch(request.scope.get(CHARGE), len(items))
        parsed = batch_items(items, tenant_of(request), now_ms())
        forbidden = await self._forbidden([p for p in parsed if isinstance(p, Recipient)])
        parsed = [forbidden_or(p, forbidden) for p in parsed]
        valid = [p for p in parsed if isinstance(p, Recipient)]
        stored = iter(await self._store(self.store.put_recipients, valid) if valid else [])
        return JsonResponse({"results": [batch_result(p, stored) for p in parsed]})

    async def _found(self, tenant: str, user_id: str) -> Recipient:
        _checked_user_id(user_id)
        found: Recipient | None = await self._store(self.store.get_recipient, tenant, user_id)
        if found is None:
            raise HTTPProblem(404, "not_found", NOT_FOUND)
        return found

    async def _checked(
        self, user_id: str, body: Any, tenant: str, existing: Recipient | None = None
    ) -> Recipient:
        """The recipient the request describes, or a 422 naming every bad field (a forbidden
        webhook included)."""
        try:
            recipient = parse_recipient(user_id, body, tenant=tenant, now=now_ms(),
                                        existing=existing, patch=existing is not None)  # fmt: skip
        except Invalid as exc:
            raise invalid(exc.errors) from None
        checked = forbidden_or(recipient, await self._forbidden([recipient]))
        if isinstance(checked, Invalid):
            raise invalid(checked.errors)
        return checked


def _checked_user_id(user_id: str) -> None:
    problem = user_id_problem(user_id)
    if problem:
        raise invalid([FieldError("user_id", problem)])


def forbidden_or(parsed: Recipient | Invalid, forbidden: dict[str, str]) -> Recipient | Invalid:
    """``parsed``, or Invalid naming each of its webhooks that may not be reached."""
    if isinstance(parsed, Invalid):
        return parsed
    errors = [FieldError(f"webhooks[{index}]", f"forbidden destination: {forbidden[url]}")
              for index, url in enumerate(parsed.webhooks) if url in forbidden]  # fmt: skip
    return Invalid(errors) if errors else parsed


def batch_items(items: list[Any], tenant: str, now: int) -> list[Recipient | Invalid]:
    """Each item checked as a PUT body with its ``user_id``; a user id an earlier item has
    is refused (which of the two should win is the client's to say)."""
    parsed: list[Recipient | Invalid] = []
    seen: set[str] = set()
    for item in items:
        user_id = item.get("user_id") if isinstance(item, dict) else None
        if not isinstance(user_id, str):
            parsed.append(Invalid([FieldError("user_id", "is required: a string")]))
            continue
        if user_id in seen:
            parsed.append(Invalid([FieldError("user_id", "repeats an earlier item's")]))
            continue
        seen.add(user_id)
        try:
            parsed.append(parse_recipient(user_id, item, tenant=tenant, now=now))
        except Invalid as exc:
            parsed.append(exc)
    return parsed


def batch_result(parsed: Recipient | Invalid, stored: Any) -> dict[str, Any]:
    if isinstance(parsed, Invalid):
        return {"status": 422, **problem_json(invalid(parsed.errors))}
    recipient, created = next(stored)
    return {"status": 201 if created else 200, "recipient": recipient_json(recipient)}


def page_query(request: Request) -> tuple[int, str | None]:
    """The listing's ``limit`` and ``cursor``, each bad parameter named."""
    query = request.query_params
    errors = [FieldError(name, "unknown query parameter")
              for name in sorted(set(query) - {"limit", "cursor"})]  # fmt: skip
    raw_limit = query.get("limit", str(DEFAULT_PAGE))
    # isdigit alone admits digits int() refuses ("²")
    plain_number = raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) < 6
    limit = int(raw_limit) if plain_number else 0
    if not 1 <= limit <= MAX_PAGE:
        errors.append(FieldError("limit", f"must be an integer from 1 to {MAX_PAGE}"))
    cursor = query.get("cursor")
    if cursor is not None and user_id_problem(cursor):
        errors.append(FieldError("cursor", "must be a next_cursor from an earlier page"))
    if errors:
        raise invalid(errors)
    return limit, cursor


def by_method(**endpoints: Endpoint) -> Endpoint:
    async def dispatch(request: Request) -> Response:
        return await endpoints[request.method](request)

    return dispatch


def routes(
    config: Config, store: Store, observer: CallObserver, destinations: IntakeResolver
) -> list[Route]:
    """The recipients' routes, one per path (so a 405 lists every method of the path)."""
    api = Recipients(config, store, observer, destinations)
    item = by_method(GET=api.get, HEAD=api.get, PUT=api.put, PATCH=api.patch, DELETE=api.delete)
    return [
        Route("/v1/recipients", by_method(GET=api.list, HEAD=api.list), methods=["GET"]),
        Route("/v1/recipients/batch", api.batch, methods=["POST"]),
        Route("/v1/recipients/{user_id}", item, methods=["GET", "PUT", "PATCH", "DELETE"]),
    ]
