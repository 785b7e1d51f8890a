"""The console's pages and actions. Each page finds its viewer first (``access.py``): no session
goes to the sign-in page, a viewer without the scope a page needs gets a 403 page. Each action
(a POST) also passes ``forms.py``'s checks: same origin, the session's CSRF token, ``admin``.
Store calls run on worker threads (``call``), timed like the API's."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from notifyctl.api.console import data
from notifyctl.api.console.access import ConsoleAccess, Refused, Viewer
from notifyctl.api.console.forms import BadForm, first, read_form, same_origin
from notifyctl.api.console.render import NO_STORE, Pages
from notifyctl.api.console.sessions import COOKIE, Signer
from notifyctl.api.keyring import TtlCache
from notifyctl.broker import Broker, broker_state
from notifyctl.config import Config
from notifyctl.errors import NotifyError, StoreError
from notifyctl.model import now_ms
from notifyctl.ops import dlq
from notifyctl.ops import inspect as ops_inspect
from notifyctl.store import Store
from notifyctl.store.calls import CallObserver, call

Handler = Callable[[Request, Viewer], Awaitable[Response]]
ROOT = "/console"
#: dead letters a page lists at most
DEAD_PAGE = 200
#: how long one reading of the overview serves every viewer of the same scope: its refresh
OVERVIEW_TTL_S = 2.0


class Console:
    def __init__(
        self, config: Config, store: Store, broker: Broker, access: ConsoleAccess,
        observer: CallObserver,
    ) -> None:  # fmt: skip
        self.config = config
        self.store = store
        self.broker = broker
        self.access = access
        self.observer = observer
        self.pages = Pages()
        #: the overview's figures, shared for one refresh interval by everyone who sees the same
        #: (its counts read every row of an index: about 60 ms a million rows on SQLite)
        self._overviews: TtlCache[dict[str, Any]] = TtlCache(OVERVIEW_TTL_S, 1_000, time.monotonic)

    @property
    def signer(self) -> Signer:
        return self.access.signer

    async def _call(self, operation: str, method: Callable[..., Any], *args: Any) -> Any:
        return await call(self.observer, operation, method, *args)

    # -- the frame every page shares ----------------------------------------------------------

    def page(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                viewer = await self.access.viewer(request, now_ms())
            except Refused as refused:
                if refused.login:
                    return RedirectResponse(f"{ROOT}/login", status_code=303, headers=NO_STORE)
                return self.pages.render("refused.html", 403, message=str(refused), viewer=None,
                                         csrf="", here="")  # fmt: skip
            except StoreError as exc:
                return self.unavailable(exc)
            try:
                response = await handler(request, viewer)
            except StoreError as exc:
                return self.unavailable(exc)
            if viewer.new:
                self.set_cookie(request, response, viewer)
            return response

        return endpoint

    def render(self, viewer: Viewer, template: str, here: str, status: int = 200,
               **context: Any) -> Response:  # fmt: skip
        return self.pages.render(
            template, status, viewer=viewer, csrf=self.signer.csrf_token(viewer.session),
            here=here, **context,
        )  # fmt: skip

    def refuse(self, viewer: Viewer, message: str, status: int = 403) -> Response:
        return self.render(viewer, "refused.html", "", status, message=message)

    def unavailable(self, exc: StoreError) -> Response:
        return self.pages.render("refused.html", 503, viewer=None, csrf="", here="",
                                 message=f"the store is unavailable ({exc}); retry")  # fmt: skip

    def set_cookie(self, request: Request, response: Response, viewer: Viewer) -> None:
        response.set_cookie(
            COOKIE, self.signer.dumps(viewer.session), max_age=self.access.session_minutes * 60,
            path=ROOT, httponly=True, samesite="strict", secure=request.url.scheme == "https",
        )  # fmt: skip

    async def action(self, request: Request, viewer: Viewer) -> dict[str, list[str]] | Response:
        """The form of a state-changing request, or the answer refusing it."""
        if not same_origin(request):
            return self.refuse(viewer, "refused: the form came from another site")
        try:
            fields = await read_form(request)
        except BadForm as exc:
            return self.refuse(viewer, f"refused: {exc}", 400)
        if not self.signer.csrf_ok(viewer.session, first(fields, "csrf")):
            stale = "refused: the form is from an old page or another session (no valid CSRF token)"
            return self.refuse(viewer, stale + "; reload and retry")
        if not viewer.can_act:
            return self.refuse(viewer, "this API key lacks the 'admin' scope this needs")
        return fields

    # -- signing in and out ---------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        open_console = not await self.access.keys_configured()
        if open_console:
            return RedirectResponse(ROOT, status_code=303, headers=NO_STORE)
        return self.pages.render("login.html", viewer=None, csrf="", here="login", error=None)

    async def login(self, request: Request) -> Response:
        if not same_origin(request):
            return self.pages.render("login.html", 403, viewer=None, csrf="", here="login",
                                     error="refused: the form came from another site")  # fmt: skip
        try:
            key = first(await read_form(request), "key") or ""
            viewer = await self.access.sign_in(key, now_ms())
        except BadForm as exc:
            return self.pages.render("login.html", 400, viewer=None, csrf="", here="login",
                                     error=str(exc))  # fmt: skip
        except StoreError as exc:
            return self.unavailable(exc)
        if viewer is None:
            await anyio.sleep(0.5)  # a wrong key costs the guesser time, not the server
            return self.pages.render("login.html", 401, viewer=None, csrf="", here="login",
                                     error="that key is unknown, revoked, expired, or lacks the"
                                           " 'read' scope")  # fmt: skip
        response = RedirectResponse(ROOT, status_code=303, headers=NO_STORE)
        self.set_cookie(request, response, viewer)
        return response

    async def logout(self, request: Request, viewer: Viewer) -> Response:
        if not same_origin(request):
            return self.refuse(viewer, "refused: the form came from another site")
        response = RedirectResponse(f"{ROOT}/login", status_code=303, headers=NO_STORE)
        response.delete_cookie(COOKIE, path=ROOT)
        return response

    # -- pages ----------------------------------------------------------------------------------

    async def overview(self, request: Request, viewer: Viewer) -> Response:
        scope = (viewer.tenant, viewer.operator)
        found, figures = self._overviews.get(repr(scope))
        if not found:
            figures = await self._call(
                "console_overview", data.overview, self.store, now_ms(), viewer.tenant,
                viewer.operator,
            )  # fmt: skip
            self._overviews.put(repr(scope), figures)
        template = "_overview.html" if request.query_params.get("fragment") else "overview.html"
        return self.render(viewer, template, "overview", figures=figures,
                           broker=broker_state(self.broker))  # fmt: skip

    async def workers(self, request: Request, viewer: Viewer) -> Response:
        if not viewer.operator:
            return self.refuse(viewer, "the workers are the deployment's: sign in with one of"
                                       " its NOTIFYCTL_API_KEYS to see them")  # fmt: skip
        rows = await self._call(
            "workers", ops_inspect.workers, self.store, now_ms(),
            self.config.heartbeat_interval_ms,
        )  # fmt: skip
        return self.render(viewer, "workers.html", "workers", workers=rows)

    async def notification(self, request: Request, viewer: Viewer) -> Response:
        notification_id = request.path_params["id"][:100]
        found = await self._call(
            "get", data.notification, self.store, notification_id, viewer.tenant
        )
        if found is None:
            return self.refuse(viewer, f"no notification {notification_id}", 404)
        done = request.query_params.get("done")
        return self.render(viewer, "notification.html", "", n=found, done=done)

    async def cancel(self, request: Request, viewer: Viewer) -> Response:
        fields = await self.action(request, viewer)
        if isinstance(fields, Response):
            return fields
        notification_id = request.path_params["id"][:100]
        result, _ = await self._call(
            "cancel", self.store.cancel, notification_id, now_ms(), viewer.tenant
        )
        if result == "not_found":
            return self.refuse(viewer, f"no notification {notification_id}", 404)
        return RedirectResponse(f"{ROOT}/notifications/{notification_id}?done={result}",
                                status_code=303, headers=NO_STORE)  # fmt: skip

    async def search(self, request: Request, viewer: Viewer) -> Response:
        text = request.query_params.get("q", "")
        found = await self._call("search", data.search, self.store, text, viewer.tenant,
                                 viewer.operator)  # fmt: skip
        if found["redirect"]:
            return RedirectResponse(f"{ROOT}/notifications/{found['redirect']}", status_code=303,
                                    headers=NO_STORE)  # fmt: skip
        return self.render(viewer, "search.html", "search", found=found)

    # -- dead letters -----------------------------------------------------------------------------

    def _filters(self, params: Any) -> tuple[dict[str, str], int | None]:
        """The dead letters' filters as given (for the form and links), and ``since`` in ms;
        NotifyError for a ``since`` that is neither a time nor an age."""
        shown = {name: (params.get(name) or "").strip()[:200]
                 for name in ("channel", "since", "error")}  # fmt: skip
        since = dlq.parse_since(shown["since"], now_ms()) if shown["since"] else None
        return shown, since

    async def dead(self, request: Request, viewer: Viewer) -> Response:
        try:
            shown, since = self._filters(request.query_params)
        except NotifyError as exc:
            return self.render(viewer, "dead.html", "dead", 400, filters={}, letters=[],
                               error=str(exc), done=None)  # fmt: skip
        letters = await self._call(
            "dead_letters", data.dead_letters, self.store, since, shown["channel"] or None,
            shown["error"] or None, DEAD_PAGE, viewer.tenant,
        )  # fmt: skip
        done = request.query_params.get("replayed")
        return self.render(viewer, "dead.html", "dead", filters=shown, letters=letters,
                           error=None, done=done)  # fmt: skip

    async def replay(self, request: Request, viewer: Viewer) -> Response:
        fields = await self.action(request, viewer)
        if isinstance(fields, Response):
            return fields
        try:
            shown, since = self._filters({k: first(fields, k) for k in ("channel", "since",
                                                                         "error")})  # fmt: skip
        except NotifyError as exc:
            return self.refuse(viewer, str(exc), 400)
        everything = first(fields, "all") == "1"
        ids = () if everything else tuple(dict.fromkeys(fields.get("id", [])))[:DEAD_PAGE]
        if not everything and not ids:
            return self.refuse(viewer, "select the dead letters to replay, or replay all", 400)
        selection = dlq.Selection(ids, since, shown["channel"] or None, viewer.tenant,
                                  shown["error"] or None)  # fmt: skip
        confirmed = first(fields, "confirm") == "1"
        report = await self._call(
            "replay", dlq.replay, self.store, selection, now_ms(), not confirmed
        )
        if not confirmed:  # the same selection, shown for a second look
            return self.render(viewer, "confirm_replay.html", "dead", filters=shown,
                               everything=everything, ids=ids, report=report.as_json())  # fmt: skip
        if self.broker.configured and report.replayed:
            await anyio.to_thread.run_sync(dlq.wake_workers, self.broker, report)
        return RedirectResponse(f"{ROOT}/dead?replayed={len(report.replayed)}", status_code=303,
                                headers=NO_STORE)  # fmt: skip
