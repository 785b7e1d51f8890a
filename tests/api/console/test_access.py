"""Who may use the console (issue 19 item 2), through the real app: signing in with an API key,
the session cookie's flags, a tampered or revoked session, scopes (a read-only key sees but
cannot act), tenants (a store key sees its own tenant only; workers are the operators'), the
CSRF token and the same-origin check on every action, the security headers, and a console
without keys that answers loopback clients only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.api.console.sessions import COOKIE
from notifyctl.config import Config
from notifyctl.model import Outcome, Status, Verdict, now_ms
from notifyctl.store import Store, open_store
from tests.api.console.conftest import ADMIN, GLOBEX, OPERATOR, READER, csrf_of, sign_in
from tests.conftest import make_config
from tests.helpers import insert, webhooks


def dead_of(store: Store, tenant: str, error: str = "HTTP 410") -> str:
    (item,) = webhooks("http://127.0.0.1:9/x", 1)
    (nid,) = insert(store, [replace(item, tenant_id=tenant)])
    (claim,) = store.claim_ids([nid], "w-test", now_ms(), 30_000)
    store.finish([Outcome(claim, Verdict.DEAD, error)], now_ms())
    return nid


def test_pages_need_a_session_and_a_wrong_key_gets_none(client: TestClient) -> None:
    for path in ("/console", "/console/dead", "/console/workers", "/console/search?q=x"):
        answer = client.get(path, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/login"), path
    wrong = client.post("/console/login", data={"key": "not-a-key"}, follow_redirects=False)
    assert wrong.status_code == 401 and "unknown, revoked, expired" in wrong.text
    assert COOKIE not in wrong.headers.get("set-cookie", "")
    assert client.get("/v1/notifications").status_code == 401  # the API still wants its key


def test_the_session_cookie_is_signed_http_only_strict_and_expires(client: TestClient) -> None:
    answer = client.post("/console/login", data={"key": OPERATOR}, follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(COOKIE + "=")
    for flag in ("HttpOnly", "SameSite=strict", "Path=/console", "Max-Age=28800"):
        assert flag.lower() in cookie.lower(), flag
    assert OPERATOR not in cookie  # the key itself is never in it
    assert client.get("/console").status_code == 200
    value = client.cookies[COOKIE]
    client.cookies.clear()
    body, mac = value.split(".")
    forged = body.replace(body[-3], "A" if body[-3] != "A" else "B") + "." + mac
    for altered in (value[:-2] + ("00" if not value.endswith("00") else "11"), forged, "x"):
        client.cookies.set(COOKIE, altered)
        assert client.get("/console", follow_redirects=False).status_code == 303, altered


def test_revoking_the_key_ends_its_sessions(config: Config, store: Store) -> None:
    with TestClient(build_app(config, store)) as fresh:
        sign_in(fresh, READER)
        assert fresh.get("/console").status_code == 200
        store.revoke_key("key_0000000000000000", now_ms())
    with TestClient(build_app(config, store)) as later:  # a new process: past the key cache
        later.cookies.update(fresh.cookies)
        assert later.get("/console", follow_redirects=False).status_code == 303


def test_a_read_only_key_sees_but_cannot_replay(client: TestClient, store: Store) -> None:
    nid = dead_of(store, "acme")
    sign_in(client, READER)
    page = client.get("/console/dead")
    assert nid in page.text and "Replay selected" not in page.text
    refused = client.post("/console/dead/replay", data={"csrf": csrf_of(page.text), "id": nid,
                                                        "confirm": "1"})  # fmt: skip
    assert refused.status_code == 403 and "lacks the &#39;admin&#39; scope" in refused.text
    assert store.get(nid).status is Status.DEAD  # type: ignore[union-attr]


def test_an_action_without_the_csrf_token_or_from_another_site_is_refused(
    client: TestClient, store: Store
) -> None:
    nid = dead_of(store, "acme")
    sign_in(client, ADMIN)
    page = client.get("/console/dead").text
    form = {"id": nid, "confirm": "1", "all": "0"}
    assert client.post("/console/dead/replay", data=form).status_code == 403
    assert client.post("/console/dead/replay", data={**form, "csrf": "0" * 64}).status_code == 403
    foreign = client.post("/console/dead/replay", data={**form, "csrf": csrf_of(page)},
                          headers={"Origin": "https://evil.example"})  # fmt: skip
    assert foreign.status_code == 403 and "another site" in foreign.text
    assert store.get(nid).status is Status.DEAD  # type: ignore[union-attr]
    done = client.post("/console/dead/replay", data={**form, "csrf": csrf_of(page)},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and store.get(nid).status is Status.PENDING  # type: ignore[union-attr]


def test_a_tenant_key_sees_its_own_tenant_only(client: TestClient, store: Store) -> None:
    acme, globex = dead_of(store, "acme"), dead_of(store, "globex")
    sign_in(client, GLOBEX)
    assert globex in client.get("/console/dead").text
    assert acme not in client.get("/console/dead").text
    assert client.get(f"/console/notifications/{acme}").status_code == 404
    assert client.get("/console/workers").status_code == 403
    assert "Workers" not in client.get("/console").text.split("<main")[0]
    sign_in(client, OPERATOR)  # the deployment's key: every tenant
    listed = client.get("/console/dead").text
    assert acme in listed and globex in listed
    assert client.get("/console/workers").status_code == 200


def test_every_page_carries_the_security_headers(client: TestClient) -> None:
    sign_in(client, OPERATOR)
    for path in ("/console", "/console/login", "/console/dead", "/console/workers"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    script = client.get("/console/static/console.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/console/static/missing.js").status_code == 404
    assert client.get("/console/static/..%2F__init__.py").status_code == 404


def test_a_console_without_keys_answers_loopback_clients_only(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = open_store(config)
    with TestClient(build_app(config, store), client=("203.0.113.9", 5000)) as remote:
        refused = remote.get("/console")
        assert refused.status_code == 403 and "only clients on this host" in refused.text
    with TestClient(build_app(config, store), client=("127.0.0.1", 5000)) as local:
        page = local.get("/console")
        assert page.status_code == 200 and "No API keys are configured" in page.text
        assert local.get("/console/login", follow_redirects=False).status_code == 303
    store.close()
