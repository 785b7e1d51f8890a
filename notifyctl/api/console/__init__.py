"""The operators' web console at ``/console`` on the API (issue 19; docs/console.md).

Server-rendered pages with a few lines of progressive enhancement, every asset served from here:
``pages.py`` (the pages and actions), ``data.py`` (what each shows, from the store's operator
queries), ``access.py`` (who may see and do what), ``sessions.py`` (the signed cookie and its
CSRF token), ``forms.py`` (reading and checking a form), ``render.py`` (templates and headers),
``templates/`` and ``static/``. The API's bearer-key guard lets ``/console`` through: the
console checks its own session instead.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from notifyctl.api.console.access import ConsoleAccess
from notifyctl.api.console.pages import ROOT, Console
from notifyctl.api.console.render import SECURITY_HEADERS
from notifyctl.api.console.sessions import Signer
from notifyctl.api.guard import Network
from notifyctl.api.keyring import StoreKeys
from notifyctl.apikeys import ApiKeys
from notifyctl.broker import Broker
from notifyctl.config import Config
from notifyctl.store import Store
from notifyctl.store.calls import CallObserver

__all__ = ["ROOT", "console_routes"]
STATIC = Path(__file__).parent / "static"
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def static_files() -> dict[str, tuple[bytes, str]]:
    """Every asset, read once: the console serves nothing it did not ship."""
    return {
        f.name: (f.read_bytes(), TYPES[f.suffix]) for f in STATIC.iterdir() if f.suffix in TYPES
    }


def console_routes(
    config: Config, store: Store, broker: Broker, keys: ApiKeys, store_keys: StoreKeys,
    observer: CallObserver, trusted_proxies: tuple[Network, ...] = (),
) -> list[Route]:  # fmt: skip
    signer = Signer(config.console_secret)
    access = ConsoleAccess(keys, store_keys, signer, config.console_session_minutes,
                           trusted_proxies)  # fmt: skip
    console = Console(config, store, broker, access, observer)
    files = static_files()
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"}

    async def static(request: Request) -> Response:
        found = files.get(request.path_params["name"])
        if found is None:
            return Response("not found", status_code=404, headers=SECURITY_HEADERS)
        body, media_type = found
        return Response(body, media_type=media_type, headers=headers)

    page = console.page
    return [
        Route(ROOT, page(console.overview), methods=["GET"]),
        Route(f"{ROOT}/", page(console.overview), methods=["GET"]),
        Route(f"{ROOT}/login", console.login_form, methods=["GET"]),
        Route(f"{ROOT}/login", console.login, methods=["POST"]),
        Route(f"{ROOT}/logout", page(console.logout), methods=["POST"]),
        Route(f"{ROOT}/workers", page(console.workers), methods=["GET"]),
        Route(f"{ROOT}/dead", page(console.dead), methods=["GET"]),
        Route(f"{ROOT}/dead/replay", page(console.replay), methods=["POST"]),
        Route(f"{ROOT}/notifications/{{id}}", page(console.notification), methods=["GET"]),
        Route(f"{ROOT}/notifications/{{id}}/cancel", page(console.cancel), methods=["POST"]),
        Route(f"{ROOT}/search", page(console.search), methods=["GET"]),
        Route(f"{ROOT}/static/{{name}}", static, methods=["GET"]),
    ]
