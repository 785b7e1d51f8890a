"""The templates resource (issue 16): ``PUT``, ``GET`` and ``DELETE /v1/templates/{name}``, and
``GET /v1/templates`` (a page by name). Every template is the caller's tenant's: another tenant's
is a 404 exactly as an unknown one. The guard has checked the key's scope (``read`` to read,
``admin`` to change) before a handler runs.

A PUT is compiled by ``Template.parse`` before anything is stored: a template that does not
compile, or uses a variable its ``variables`` do not declare, is a 422 ``invalid_template`` whose
``details`` name every problem (field, message, and line for a problem inside a text). The body
is bounded by the API's ``max_body_bytes`` while it streams, as every body is.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from notifyctl.api.io import JsonResponse, read_json, tenant_of, unavailable_store_is_503
from notifyctl.api.problems import HTTPProblem, invalid
from notifyctl.config import Config
from notifyctl.model import now_ms
from notifyctl.shapes import template_json, template_summary_json
from notifyctl.store import Store
from notifyctl.store.calls import CallObserver
from notifyctl.store.calls import call as store_call
from notifyctl.templates import Template, TemplateInvalid, template_name
from notifyctl.validation import FieldError

DEFAULT_PAGE, MAX_PAGE = 50, 200
COLLECTION = "/v1/templates"
NOT_FOUND = "no template has this name"


def refused(exc: TemplateInvalid) -> HTTPProblem:
    where = ", ".join(
        f"{p['field'] or 'body'}" + (f" (line {p['line']})" if "line" in p else "")
        for p in exc.problems
    )
    return HTTPProblem(422, "invalid_template", f"invalid template: {where}", exc.problems)


def page_query(request: Request) -> tuple[int, str | None]:
    """The listing's ``limit`` and ``cursor``, each bad one named."""
    query = request.query_params
    errors = [FieldError(name, "unknown query parameter")
              for name in sorted(set(query) - {"limit", "cursor"})]  # fmt: skip
    raw_limit = query.get("limit", str(DEFAULT_PAGE))
    # ASCII digits, and few: str.isdigit() also takes "²", which int() refuses
    limit = int(raw_limit) if re.fullmatch(r"[0-9]{1,4}", raw_limit) else 0
    if not 1 <= limit <= MAX_PAGE:
        errors.append(FieldError("limit", f"must be an integer from 1 to {MAX_PAGE}"))
    cursor = query.get("cursor")
    if cursor is not None and not is_template_name(cursor):
        errors.append(FieldError("cursor", "must be a next_cursor from an earlier page"))
    if errors:
        raise invalid(errors)
    return limit, cursor


def is_template_name(text: str) -> bool:
    try:
        template_name(text)
    except ValueError:
        return False
    return True


class TemplatesApi:
    def __init__(self, config: Config, store: Store, observer: CallObserver) -> None:
        self.config = config
        self.store = store
        self.observer = observer

    async def _store(self, method: Callable[..., Any], *args: Any) -> Any:
        with unavailable_store_is_503():
            return await store_call(self.observer, method.__name__, method, *args)

    async def put(self, request: Request) -> Response:
        name = request.path_params["name"]
        config = self.config
        document = await read_json(request, config.max_body_bytes, config.body_timeout_ms / 1000)
        try:
            Template.parse(name, document)
        except TemplateInvalid as exc:
            raise refused(exc) from None
        tenant = tenant_of(request)
        created = await self._store(self.store.put_template, tenant, name, document, now_ms())
        stored = await self._store(self.store.get_template, tenant, name)
        if stored is None:  # deleted between the put and this read
            message = "the template was deleted while it was being stored; put it again"
            raise HTTPProblem(409, "template_deleted", message)
        headers = {"Location": f"{COLLECTION}/{name}"} if created else {}
        return JsonResponse(template_json(stored), 201 if created else 200, headers=headers)

    async def get(self, request: Request) -> Response:
        name = request.path_params["name"]
        found = None
        if is_template_name(name):  # no other name can be stored: nothing to look up
            found = await self._store(self.store.get_template, tenant_of(request), name)
        if found is None:
            raise HTTPProblem(404, "not_found", NOT_FOUND)
        return JsonResponse(template_json(found))

    async def delete(self, request: Request) -> Response:
        name = request.path_params["name"]
        deleted = is_template_name(name) and await self._store(
            self.store.delete_template, tenant_of(request), name
        )
        if not deleted:
            raise HTTPProblem(404, "not_found", NOT_FOUND)
        return Response(status_code=204)

    async def list(self, request: Request) -> Response:
        limit, cursor = page_query(request)
        page = await self._store(self.store.list_templates, tenant_of(request), limit, cursor)
        next_cursor = page[-1].name if len(page) == limit else None
        return JsonResponse({"templates": [template_summary_json(r) for r in page],
                             "next_cursor": next_cursor})  # fmt: skip


Endpoint = Callable[[Request], Awaitable[Response]]


def by_method(**endpoints: Endpoint) -> Endpoint:
    """One endpoint per method of a path; HEAD is answered as GET (Starlette serves HEAD
    wherever GET is)."""

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await endpoints[method](request)

    return dispatch


def routes(config: Config, store: Store, observer: CallObserver) -> list[Route]:
    """The resource's routes, one per path (so a 405 lists every method the path has)."""
    api = TemplatesApi(config, store, observer)
    item = by_method(GET=api.get, PUT=api.put, DELETE=api.delete)
    return [
        Route(COLLECTION, by_method(GET=api.list), methods=["GET"]),
        Route(COLLECTION + "/{name}", item, methods=["GET", "PUT", "DELETE"]),
    ]
