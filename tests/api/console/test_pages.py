"""The console's pages through the real app (issue 19 item 1): what a client wrote shows as
text, never markup; a notification's timeline and cancel; search by id, message, user and
tenant; the overview, its live fragment and its chart; replay of all that match after a
confirmation page, by the same code path as ``notifyctl dlq replay``."""

from __future__ import annotations

from dataclasses import replace

from starlette.testclient import TestClient

from notifyctl.model import Outcome, Status, Verdict, WorkerRecord, now_ms
from notifyctl.store import Store
from tests.api.console.conftest import ADMIN, OPERATOR, csrf_of, sign_in
from tests.helpers import insert, webhooks

SCRIPT = "<script>alert(1)</script>"


def one(store: Store, **fields: object) -> str:
    (item,) = webhooks("http://127.0.0.1:9/x", 1)
    (nid,) = insert(store, [replace(item, **fields)])  # type: ignore[arg-type]
    return nid


def test_client_written_text_is_shown_as_text(client: TestClient, store: Store) -> None:
    nid = one(store, title=SCRIPT, body='"><img src=x onerror=alert(2)>', user_id=SCRIPT)
    (claim,) = store.claim_ids([nid], "w-1", now_ms(), 30_000)
    store.finish([Outcome(claim, Verdict.DEAD, "HTTP 500: <b>boom</b>")], now_ms())
    sign_in(client, OPERATOR)
    for path in (f"/console/notifications/{nid}", "/console/dead", f"/console/search?q={nid[:5]}"):
        page = client.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page and "<b>boom" not in page
    page = client.get(f"/console/notifications/{nid}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "HTTP 500: &lt;b&gt;boom&lt;/b&gt;" in page


def test_a_notification_shows_its_timeline_and_can_be_cancelled(
    client: TestClient, store: Store
) -> None:
    nid = one(store)
    (claim,) = store.claim_ids([nid], "worker-a", now_ms(), 30_000)
    store.finish([Outcome(claim, Verdict.RETRY, "HTTP 503", now_ms() + 3_600_000)], now_ms())
    sign_in(client, ADMIN)
    assert client.get(f"/console/notifications/{nid}").status_code == 404  # not acme's
    sign_in(client, OPERATOR)
    page = client.get(f"/console/notifications/{nid}").text
    assert "created" in page and "retry" in page and "worker-a" in page and "HTTP 503" in page
    assert "Cancel it" in page
    done = client.post(f"/console/notifications/{nid}/cancel", data={"csrf": csrf_of(page)})
    assert done.status_code == 200 and "Cancelled." in done.text
    assert store.get(nid).status is Status.CANCELLED  # type: ignore[union-attr]
    assert "Cancel it" not in done.text


def test_search_finds_by_id_message_user_and_tenant(client: TestClient, store: Store) -> None:
    nid = one(store, user_id="ada", message_id="msg-1", tenant_id="acme")
    sign_in(client, OPERATOR)
    by_id = client.get(f"/console/search?q={nid}", follow_redirects=False)
    assert by_id.headers["location"] == f"/console/notifications/{nid}"
    for text, kind in (("msg-1", "message"), ("ada", "user"), ("acme", "tenant")):
        page = client.get(f"/console/search?q={text}").text
        assert f"of {kind}" in page and nid in page, text
    assert "Nothing found" in client.get("/console/search?q=nobody").text
    waiting = client.get("/console/search?q=http://127.0.0.1:9/any/path").text
    assert "Waiting for destination" in waiting and "http://127.0.0.1:9" in waiting
    assert nid in waiting


def test_the_overview_counts_charts_and_refreshes(client: TestClient, store: Store) -> None:
    ids = insert(store, webhooks("http://127.0.0.1:9/x", 3))
    claims = store.claim_ids(ids, "w-1", now_ms(), 30_000)
    store.finish([Outcome(c, Verdict.SENT) for c in claims[:2]], now_ms())
    sign_in(client, OPERATOR)
    page = client.get("/console").text
    assert 'data-count="sent">2<' in page and 'data-count="locked">1<' in page
    assert 'data-refresh="2000"' in page and "<polyline points=" in page
    fragment = client.get("/console?fragment=1").text
    assert not fragment.startswith("<!doctype") and 'data-count="sent">2<' in fragment
    assert "Waiting, by priority and channel" in page  # an operator sees the backlog


def test_replay_all_that_match_asks_first_then_replays(client: TestClient, store: Store) -> None:
    ids = insert(store, webhooks("http://127.0.0.1:9/x", 3))
    claims = store.claim_ids(ids, "w-1", now_ms(), 30_000)
    errors = dict(zip(ids, ("HTTP 410 Gone", "HTTP 410 Gone", "certificate verify failed"),
                      strict=True))  # fmt: skip
    store.finish([Outcome(c, Verdict.DEAD, errors[c.id]) for c in claims], now_ms())
    sign_in(client, OPERATOR)
    page = client.get("/console/dead?error=410").text
    assert ids[2] not in page and ids[0] in page
    form = {"csrf": csrf_of(page), "all": "1", "error": "410", "channel": "", "since": ""}
    asked = client.post("/console/dead/replay", data=form)
    assert "Replay 2 dead letters?" in asked.text
    assert {store.get(i).status for i in ids} == {Status.DEAD}  # type: ignore[union-attr]
    done = client.post("/console/dead/replay", data={**form, "confirm": "1"})
    assert "2 replayed" in done.text
    assert [store.get(i).status for i in ids] == [  # type: ignore[union-attr]
        Status.PENDING, Status.PENDING, Status.DEAD,
    ]  # fmt: skip


def test_the_workers_page_shows_state_cpu_and_memory(client: TestClient, store: Store) -> None:
    now = now_ms()
    store.register_worker(WorkerRecord("host-1-11-aaaa", 1, "host-1", 11, now, now, 0, 0))
    store.heartbeat("host-1-11-aaaa", now, 3, 1_234, 37.5, 52 * 1_048_576)
    store.register_worker(WorkerRecord("host-2-22-bbbb", 2, "host-2", 22, now, now - 600_000,
                                       0, 0))  # fmt: skip
    sign_in(client, OPERATOR)
    rows = client.get("/console/workers").text.split("<tbody>")[1]
    alive, stale = rows.split("</tr>")[:2]
    assert "host-1-11-aaaa" in alive and "alive" in alive and "1,234" in alive
    assert "37.50" in alive and "52.0" in alive
    assert "host-2-22-bbbb" in stale and "stale" in stale
