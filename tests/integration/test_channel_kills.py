"""A worker killed with ``kill -9`` mid-batch, on each provider channel (email, apns, fcm, sms).

Two real worker processes deliver through the real channel to a local fake of the provider,
which runs in a thread of this process, records every delivery as it arrives (the provider has
it from then on) and answers only after a hold, so deliveries are in flight when the victim dies.
The survivor takes the victim's leases over when they expire and sends those notifications
again: nothing may be lost, only the victim's orphaned notifications may arrive twice, and a
repeat must carry the same provider-side id as the first delivery (email: Message-ID, apns:
apns-id, fcm: data.notification_id, sms: none, so the same body), naming its notification.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trustme
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from notifyctl.channels import offered
from notifyctl.ids import new_id
from notifyctl.model import NewNotification, Priority, Status, now_ms
from notifyctl.store import open_store
from tests.channels import test_apns, test_fcm, test_sms
from tests.conftest import make_config
from tests.helpers import free_port, insert, leased_by_pid, start_worker, stop, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T = TypeVar("T")
CHANNELS = ("email", "apns", "fcm", "sms")
COUNT = 300
CONCURRENCY = 20
LEASE_MS = 1_500
#: how long the fake provider holds each delivery before answering it
HOLD_S = 0.2
#: the victim is killed once it has sent this many, holds 10 leases and the provider has 5 of
#: them: mid-run and mid-batch, with deliveries in flight
SENT_BEFORE_KILL = 20
#: what every notification's body says: it names the notification (the sms has nothing else)
BODY = "notification {}"
EMAIL_DOMAIN = "notify.example.com"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # the ULID alphabet (notifyctl/ids.py)


@dataclass(frozen=True)
class Arrival:
    """One delivery as the provider received it."""

    at_ms: float
    #: the notification the delivery's text names (the body the test wrote)
    ref: str
    #: the provider-side id the channel sent with it (for sms, the body itself)
    provider_id: str


@dataclass
class Fake:
    """A running fake provider: the settings that point a worker at it, the address to send to,
    what it received, and which notification a provider-side id names."""

    settings: dict[str, object]
    to: str
    owner: Callable[[str], str | None]
    arrivals: list[Arrival] = field(default_factory=list)
    #: every status the provider answered with
    answers: list[int] = field(default_factory=list)

    def arrive(self, text: str, provider_id: str) -> None:
        ref = text.strip().removeprefix(BODY.format(""))
        self.arrivals.append(Arrival(time.time() * 1000, ref, provider_id))

    def snapshot(self) -> list[Arrival]:
        return list(self.arrivals)


@contextmanager
def in_thread(make: Callable[[], AbstractAsyncContextManager[T]]) -> Iterator[T]:
    """Enter ``make()`` in a thread with an event loop of its own, so that other processes can
    reach what it serves while the test waits; leave it on exit."""
    loop = asyncio.new_event_loop()
    entered: concurrent.futures.Future[T] = concurrent.futures.Future()
    leave = asyncio.Event()

    async def main() -> None:
        try:
            async with make() as value:
                entered.set_result(value)
                await leave.wait()
        except BaseException as exc:
            if not entered.done():
                entered.set_exception(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield entered.result(timeout=10)
    finally:
        loop.call_soon_threadsafe(leave.set)
        thread.join(10)
        assert not thread.is_alive(), "the fake provider did not stop"
        loop.close()


# -- email: an SMTP relay (aiosmtpd, which runs in a thread of its own) -------------------------


class Relay:
    """Takes every message, records it, and says 250 after the hold."""

    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content
        assert isinstance(content, bytes)
        message = message_from_bytes(content, policy=default)
        assert isinstance(message, EmailMessage)
        self.fake.arrive(str(message.get_content()), str(message["Message-ID"]))
        await asyncio.sleep(HOLD_S)
        self.fake.answers.append(250)
        return "250 OK queued"


def email_owner(message_id: str) -> str | None:
    inside = message_id.removeprefix("<").removesuffix(">")
    notification_id, _, domain = inside.partition("@")
    return notification_id if domain == EMAIL_DOMAIN else None


@contextmanager
def email_provider(tmp_path: Path) -> Iterator[Fake]:
    port = free_port()
    settings: dict[str, object] = {
        "smtp_url": f"smtp://127.0.0.1:{port}?starttls=off",
        "email_from": f"Notifier <noreply@{EMAIL_DOMAIN}>",
        "smtp_max_connections": 10,
    }
    fake = Fake(settings, "ada@example.com", email_owner)
    controller = Controller(Relay(fake), hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    try:
        yield fake
    finally:
        controller.stop()


# -- apns: FakeApns of the channel's tests, behind a layer that records on arrival -------------


class ArrivingApns(test_apns.FakeApns):
    """``FakeApns`` (which checks the provider token, holds each push ``delay_s`` and answers),
    recording each push as it arrives."""

    fake: Fake

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        body = b""
        while (message := await receive())["type"] == "http.request":
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        else:  # the client went away before the whole request came: APNs never had it
            return
        headers = {key.decode(): value.decode() for key, value in scope["headers"]}
        self.fake.arrive(json.loads(body)["aps"]["alert"]["body"], headers.get("apns-id", ""))

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def answer(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.fake.answers.append(message["status"])
            await send(message)

        await super().__call__(scope, replay, answer)


def ulid_of_uuid(text: str) -> str:
    """The ULID whose 128 bits a UUID holds (the inverse of ``apns_push.apns_id``)."""
    value = int(text.replace("-", ""), 16)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


@contextmanager
def apns_provider(tmp_path: Path) -> Iterator[Fake]:
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = test_apns.write_key(tmp_path / f"AuthKey_{test_apns.KEY_ID}.p8", key)
    apns = ArrivingApns(key.public_key(), delay_s=HOLD_S)
    fake = apns.fake = Fake({}, test_apns.DEVICE, ulid_of_uuid)
    with test_apns.running(apns, tmp_path, 100) as url:
        fake.settings = {
            "apns_key_file": str(key_file), "apns_key_id": test_apns.KEY_ID,
            "apns_team_id": test_apns.TEAM_ID, "apns_topic": test_apns.TOPIC,
            "apns_url": url, "channel_ca_file": str(tmp_path / "ca.pem"),
        }  # fmt: skip
        yield fake


# -- fcm: FakeGoogle of the channel's tests (token endpoint and messages:send) -----------------


class ArrivingGoogle(test_fcm.FakeGoogle):
    """Records each send it accepts (a valid bearer token) as it arrives."""

    fake: Fake

    async def send(self, request: web.Request) -> web.Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer in self.valid_tokens:
            message = (await request.json())["message"]
            self.fake.arrive(message["notification"]["body"], message["data"]["notification_id"])
        response = await super().send(request)
        self.fake.answers.append(response.status)
        return response


@asynccontextmanager
async def google(tmp_path: Path) -> AsyncIterator[Fake]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = trustme.CA()
    google = ArrivingGoogle(key.public_key(), send_delay_s=HOLD_S)
    google.fake = Fake({}, test_fcm.DEVICE, lambda notification_id: notification_id)
    app = web.Application()
    app.router.add_post("/token", google.token)
    app.router.add_post(f"/v1/projects/{test_fcm.PROJECT}/messages:send", google.send)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=test_fcm.serve_tls(ca)).start()
    google.base_url = f"https://127.0.0.1:{runner.addresses[0][1]}"
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    credentials = test_fcm.write_credentials(
        tmp_path / "sa.json", test_fcm.pem(key), google.token_uri
    )
    google.fake.settings = {
        "fcm_credentials_file": str(credentials), "fcm_url": google.base_url,
        "channel_ca_file": str(tmp_path / "ca.pem"), "fcm_max_connections": CONCURRENCY,
    }  # fmt: skip
    try:
        yield google.fake
    finally:
        await runner.cleanup()


@contextmanager
def fcm_provider(tmp_path: Path) -> Iterator[Fake]:
    with in_thread(lambda: google(tmp_path)) as fake:
        yield fake


# -- sms: the Twilio-compatible FakeProvider of the channel's tests ----------------------------


@asynccontextmanager
async def messages_api(fake: Fake) -> AsyncIterator[Fake]:
    accept = test_sms.accepted(HOLD_S)

    async def answer(request: web.Request) -> web.StreamResponse:
        body = str((await request.post())["Body"])
        fake.arrive(body, body)  # no provider-side id: the body is all a repeat can be known by
        response = await accept(request)
        fake.answers.append(response.status)
        return response

    async with test_sms.provider(answer) as provider:
        fake.settings = {
            "sms_url": provider.url, "sms_account_sid": test_sms.ACCOUNT_SID,
            "sms_auth_token": test_sms.AUTH_TOKEN, "sms_from": test_sms.SENDER,
            "sms_max_connections": CONCURRENCY,
        }  # fmt: skip
        yield fake


def body_owner(body: str) -> str | None:
    return body.removeprefix(BODY.format("")) if body.startswith(BODY.format("")) else None


@contextmanager
def sms_provider(tmp_path: Path) -> Iterator[Fake]:
    with in_thread(lambda: messages_api(Fake({}, test_sms.RECIPIENT, body_owner))) as fake:
        yield fake


PROVIDERS: dict[str, Callable[[Path], AbstractContextManager[Fake]]] = {
    "email": email_provider,
    "apns": apns_provider,
    "fcm": fcm_provider,
    "sms": sms_provider,
}


# -- the test ----------------------------------------------------------------------------------


def notifications(channel: str, to: str, count: int) -> list[NewNotification]:
    now = now_ms()
    return [
        NewNotification(
            id=nid, user_id=f"user-{i}", channel=channel, to=to, title=f"t{i}",
            body=BODY.format(nid), data={"seq": i}, priority=Priority.NORMAL,
            scheduled_for=now, max_attempts=3, idempotency_key=None,
            request_hash=json.dumps([channel, i]), created_at=now,
        )
        for i, nid in enumerate(new_id(now) for _ in range(count))
    ]  # fmt: skip


@dataclass
class Run:
    store: Any
    fake: Fake
    ids: set[str]
    killed_at: int = 0
    #: the victim's leases as the kill left them: id -> when the lease expires
    orphaned: dict[str, int] = field(default_factory=dict)


def kill_mid_batch(tmp_path: Path, channel: str) -> Run:
    """Two workers deliver ``COUNT`` notifications; the victim is killed mid-batch (see
    ``mid_batch``); returns when the provider has every notification and the store says sent."""
    with PROVIDERS[channel](tmp_path) as fake:
        config = make_config(
            tmp_path, lock_duration_ms=LEASE_MS, worker_concurrency=CONCURRENCY, **fake.settings
        )
        assert channel in offered(config)
        store = open_store(config)
        run = Run(store, fake, set(insert(store, notifications(channel, fake.to, COUNT))))
        victim, survivor = start_worker(config, 1), start_worker(config, 2)
        try:
            wait_until(lambda: mid_batch(run, victim.pid), 30, "victim leases, some in flight")
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            run.killed_at = now_ms()
            run.orphaned = {i: lock_expiry(store, i) for i in leased_by_pid(store, victim.pid)}
            wait_until(
                lambda: {a.ref for a in fake.snapshot()} >= run.ids,
                40,
                f"every {channel} notification at the provider",
            )
            wait_until(lambda: store.counts(now_ms())["sent"] == COUNT, 20, "all marked sent")
        finally:
            stop(victim)
            stop(survivor)
    return run


def mid_batch(run: Run, pid: int) -> bool:
    """The worker has sent some, holds 10 leases at least, and the provider has 5 of them."""
    if sent_by_pid(run.store, pid) < SENT_BEFORE_KILL:
        return False
    leased = leased_by_pid(run.store, pid)
    return len(leased) >= 10 and len(leased & {a.ref for a in run.fake.snapshot()}) >= 5


def sent_by_pid(store: Any, pid: int) -> int:
    """How many notifications a (SQLite) worker process marked sent, by their histories."""
    with store._db.read() as conn:
        row = conn.execute(
            "SELECT count(*) FROM notifications, json_each(notifications.history) AS entry"
            " WHERE status = 'sent' AND json_extract(entry.value, '$.outcome') = 'sent'"
            " AND json_extract(entry.value, '$.worker') LIKE ?",
            (f"%-{pid}-%",),
        ).fetchone()
    return int(row[0])


def lock_expiry(store: Any, notification_id: str) -> int:
    found = store.get(notification_id)
    assert found is not None and found.lock_expiry is not None
    return int(found.lock_expiry)


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_only_its_leases(
    tmp_path: Path, channel: str
) -> None:
    run = kill_mid_batch(tmp_path, channel)
    assert run.orphaned, "the killed worker held no leases: the test proves nothing"
    by_notification: dict[str, list[Arrival]] = defaultdict(list)
    for arrival in run.fake.snapshot():
        by_notification[arrival.ref].append(arrival)
    # nothing lost: every notification reached the provider and is marked sent
    assert set(by_notification) == run.ids
    counts = Counter({ref: len(seen) for ref, seen in by_notification.items()})
    repeats = {ref for ref, n in counts.items() if n > 1}
    assert repeats, "nothing the provider had was repeated: the kill came between deliveries"
    # repeats only among the victim's orphaned leases, at most one repeat each
    assert repeats <= set(run.orphaned)
    assert max(counts.values()) <= 2
    # a repeat carries the first delivery's provider-side id, and that id names its notification
    for ref, seen in by_notification.items():
        assert {a.provider_id for a in seen} == {seen[0].provider_id}, ref
        assert run.fake.owner(seen[0].provider_id) == ref
    # taken over by lease expiry: the survivor's delivery after the victim's lease ran out
    for notification_id, expiry in run.orphaned.items():
        last = max(a.at_ms for a in by_notification[notification_id])
        assert expiry - 1 <= last < run.killed_at + LEASE_MS + 15_000
        found = run.store.get(notification_id)
        assert found is not None and found.status is Status.SENT and found.attempts == 2
        history = run.store.history(notification_id)
        assert [(h.outcome, h.attempt) for h in history] == [("lease_expired", 1), ("sent", 2)]
        assert history[0].at == expiry
    assert set(run.fake.answers) <= {200, 201, 250}
