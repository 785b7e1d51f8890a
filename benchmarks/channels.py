"""Provider-channel benchmark: each channel end to end through ``notifyctl up`` against a local
fake provider, and the raw client's ceiling against the same server in the same run.

For each channel asked (``--channel sms,fcm,email,apns``) and each run:

1. start the channel's fake provider (``provider_servers.py``) as a process of its own on a free
   port of 127.0.0.1; for fcm, first write a service-account JSON key (a fresh RSA key) whose
   ``token_uri`` points at that server; for apns, a CA the service trusts, the server's
   certificate and a P-256 .p8 signing key;
2. **ceiling**: ``--ceiling-procs`` client processes (default: as many as workers), each with
   ``--concurrency`` requests in flight (default: the channel's per-worker connection limit, as
   set for the service), send the channel's own requests with the raw client library (aiohttp:
   the same form and basic auth for sms, the same JSON and bearer token for fcm; aiosmtplib for
   email; httpx over one HTTP/2 connection for apns); requests/s from the first request to the
   last answer, and the clients' CPU;
3. **end to end**: ``notifyctl up --workers W`` in a temporary data dir with the channel's
   settings in its environment (the connection limit set to ``--concurrency``), N notifications
   in through ``POST /v1/notifications/batch``, then a bounded wait until the server has
   counted every accepted one; delivered/s from the first POST to the last first delivery,
   the ratio to the ceiling (``--bracket``: to the mean of a ceiling measured before and one
   after), the workers' CPU (psutil, children of ``up``) per 1,000, and the
   duplicates and lost as the server counted them.

Every process it starts is stopped by PID (SIGTERM, then SIGKILL after a bound). With ``--runs K``
the table shows the median run (by delivered/s); ``--json FILE`` writes every run.

    .venv/bin/python benchmarks/channels.py --channel sms,fcm --count 20000 --runs 3
    .venv/bin/python benchmarks/channels.py --channel fcm --concurrency 64 --profile /tmp/prof

Adding a channel is one server in ``provider_servers.py`` and one ``Channel`` entry below
(its settings, its API item, the key the server counts, its raw client).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import select
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import e2e
import httpx
import psutil

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
SERVER_STOP_S = 10.0
CLIENT_BOUND_S = 300.0  # a ceiling client that has not finished by then is stopped

SMS_SID = "ACbench00000000000000000000000000"
SMS_TOKEN = "bench-auth-token-0123456789abcdef"
SMS_FROM = "+15550100000"
SMS_BODY = "notifyctl channel benchmark: your code is 123456"
FCM_PROJECT = "notifyctl-bench"
#: the email channel's policy (notifyctl/channels/email.py)
EMAIL_POLICY = SMTP.clone(cte_type="7bit")
FCM_EMAIL = "bench@notifyctl-bench.iam.gserviceaccount.com"
EMAIL_FROM = "bench@example.com"
APNS_KEY_ID = "BENCHKEY01"
APNS_TEAM_ID = "BENCHTEAM1"
APNS_TOPIC = "com.example.notifyctl.bench"
TITLE = "notifyctl channel benchmark"
BODY = "Your order shipped; it arrives on Tuesday."
#: an FCM registration token is 150-odd URL-safe characters; the first 16 carry the sequence
FCM_FILL = "APA91bH" + "x8Qz_-K3" * 20


def phone(seq: int) -> str:
    return f"+1555{seq % 10_000_000:07d}"


def fcm_token(seq: int) -> str:
    return (f"bench{seq:010d}:" + FCM_FILL)[:150]


def apns_token(seq: int) -> str:
    """A device token: 64 hex digits, the first 12 the sequence number."""
    return f"{seq:012x}" + "a3f1c9e07b5d2468" * 3 + "0f1e"


def email_to(seq: int) -> str:
    return f"bench+{seq}@example.com"


# --------------------------------------------------------------------------- the ceiling clients


@dataclass(frozen=True)
class ClientJob:
    """One ceiling client process's share: ``count`` requests from ``first`` on."""

    channel: str
    url: str
    port: int
    first: int
    count: int
    concurrency: int
    start_at: float
    #: the run's directory: the keys and certificates the clients need
    tmp: str = ""


async def run_pool(
    job: ClientJob, one: Callable[[int], Awaitable[bool]], lanes: int | None = None
) -> dict[str, Any]:
    """``lanes`` loops (``job.concurrency`` by default) take the next sequence number until
    ``count`` are done; waits for ``start_at`` so that every client process starts together."""
    await asyncio.sleep(max(0.0, job.start_at - time.time()))
    next_seq = job.first
    stop = job.first + job.count
    ok = failed = 0

    async def lane() -> None:
        nonlocal next_seq, ok, failed
        while next_seq < stop:
            seq = next_seq
            next_seq += 1
            try:
                success = await one(seq)
            except (aiohttp.ClientError, httpx.HTTPError, OSError, TimeoutError):
                success = False
            if success:
                ok += 1
            else:
                failed += 1

    cpu0, started = os.times(), time.time()
    await asyncio.gather(*(lane() for _ in range(lanes or job.concurrency)))
    finished, cpu1 = time.time(), os.times()
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return {"ok": ok, "failed": failed, "started": started, "finished": finished, "cpu_s": cpu}


def http_session(limit: int, **kwargs: Any) -> aiohttp.ClientSession:
    """As the channels make theirs: one pool of ``limit`` kept connections."""
    connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=60)
    timeout = aiohttp.ClientTimeout(total=10)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, **kwargs)


async def sms_client(job: ClientJob) -> dict[str, Any]:
    """notifyctl/channels/sms.py's request: the form, basic auth, the answer read."""
    url = f"{job.url}/2010-04-01/Accounts/{SMS_SID}/Messages.json"
    credentials = base64.b64encode(f"{SMS_SID}:{SMS_TOKEN}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}", "User-Agent": "notifyctl-bench"}
    async with http_session(job.concurrency, skip_auto_headers=("User-Agent",)) as session:

        async def one(seq: int) -> bool:
            form = {"To": phone(seq), "From": SMS_FROM, "Body": SMS_BODY}
            async with session.post(url, data=form, headers=headers, allow_redirects=False) as r:
                await r.content.read(64 * 1024)
                return r.status < 300

        return await run_pool(job, one)


async def fcm_client(job: ClientJob) -> dict[str, Any]:
    """notifyctl/channels/fcm.py's request: the message as compact JSON, a bearer token (fetched
    once, untimed, with the same signed assertion the channel sends)."""
    from notifyctl.channels.fcm_auth import GRANT_TYPE, assertion, load_service_account

    account = load_service_account(str(Path(job.tmp) / "service-account.json"))
    url = f"{job.url}/v1/projects/{account.project_id}/messages:send"
    async with http_session(job.concurrency, headers={"user-agent": "notifyctl-bench"}) as session:
        form = {"grant_type": GRANT_TYPE, "assertion": assertion(account, int(time.time()))}
        async with session.post(account.token_uri, data=form) as r:
            token = (await r.json())["access_token"]
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}

        async def one(seq: int) -> bool:
            message = {
                "token": fcm_token(seq),
                "data": {"seq": str(seq), "notification_id": f"ceiling-{seq}"},
                "android": {"priority": "normal"},
                "apns": {"headers": {"apns-priority": "5"}},
                "notification": {"title": TITLE, "body": BODY},
            }
            body = json.dumps({"message": message}, separators=(",", ":")).encode()
            async with session.post(url, data=body, headers=headers) as r:
                await r.content.read(64 * 1024)
                return 200 <= r.status < 300

        return await run_pool(job, one)


async def email_client(job: ClientJob) -> dict[str, Any]:
    """notifyctl/channels/email.py's transaction on ``concurrency`` kept connections: the message
    built per email (as the channel does), then MAIL, RCPT, DATA."""
    import aiosmtplib

    clients = []
    for _ in range(job.concurrency):
        client = aiosmtplib.SMTP(hostname=HOST, port=job.port, timeout=10, start_tls=False)
        await client.connect()
        clients.append(client)
    idle = list(clients)

    async def one(seq: int) -> bool:
        client = idle.pop()
        try:
            message = EmailMessage(policy=EMAIL_POLICY)
            message["From"] = EMAIL_FROM
            message["To"] = email_to(seq)
            message["Subject"] = TITLE
            message["Message-ID"] = f"<ceiling-{seq}@example.com>"
            message["Date"] = format_datetime(datetime.now(UTC))
            message.set_content(BODY)
            await client.mail(EMAIL_FROM)
            await client.rcpt(email_to(seq))
            await client.data(message.as_bytes())
            return True
        finally:
            idle.append(client)

    try:
        return await run_pool(job, one)
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.quit()


async def apns_client(job: ClientJob) -> dict[str, Any]:
    """notifyctl/channels/apns.py's request: one HTTP/2 connection (httpx, TLS with the run's
    CA), the same headers (apns-id, push type, priority, expiration, topic, collapse id, bearer
    provider token minted once with notifyctl's own ProviderTokens) and JSON payload."""
    from notifyctl.channels.apns_token import ProviderTokens, load_signing_key

    key = load_signing_key(str(Path(job.tmp) / "apns-key.p8"))
    token = ProviderTokens(key, APNS_KEY_ID, APNS_TEAM_ID).current()
    tls = ssl.create_default_context(cafile=str(Path(job.tmp) / "ca.pem"))
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        http2=True, base_url=f"https://{HOST}:{job.port}", verify=tls,
        timeout=httpx.Timeout(10), limits=limits,
    ) as client:  # fmt: skip

        async def one(seq: int) -> bool:
            payload = {"aps": {"alert": {"title": TITLE, "body": BODY}}, "seq": seq}
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
            headers = {
                "apns-id": str(uuid.UUID(int=seq)), "apns-push-type": "alert",
                "apns-priority": "10", "apns-expiration": str(int(time.time()) + 86_400),
                "apns-topic": APNS_TOPIC, "content-type": "application/json",
                "apns-collapse-id": f"ceiling-{seq}", "authorization": f"bearer {token}",
            }  # fmt: skip
            r = await client.post(f"/3/device/{apns_token(seq)}", content=body, headers=headers)
            return r.status_code == 200

        return await run_pool(job, one)


# --------------------------------------------------------------------------- the channels


@dataclass(frozen=True)
class Channel:
    """What the benchmark needs to know of one provider channel."""

    name: str
    #: the per-worker limit on deliveries in flight, and its default
    limit_setting: str
    default_limit: int
    #: the service's settings for a server on ``port``, given the run's directory
    env: Callable[[Path, int], dict[str, str]]
    #: the API item for sequence number ``seq``
    item: Callable[[int], dict[str, Any]]
    #: what the server counts a delivery of (item, notification id) by
    key: Callable[[dict[str, Any], str], str]
    client: Callable[[ClientJob], Awaitable[dict[str, Any]]]
    #: at least this many delivered/s end to end on this machine (the issue's target)
    target_per_s: float
    #: extra arguments for provider_servers.py, given the run's directory
    server_args: Callable[[Path], list[str]] = lambda tmp: []
    #: written before the server starts (fcm: the service-account key), given dir and port
    prepare: Callable[[Path, int], None] = lambda tmp, port: None


def write_apns_files(tmp: Path, port: int) -> None:
    """A CA the service trusts (NOTIFYCTL_CHANNEL_CA_FILE), the server's certificate for
    127.0.0.1, and the .p8 provider-token signing key (EC P-256)."""
    import trustme
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    ca.issue_cert(HOST).private_key_and_cert_chain_pem.write_to_path(str(tmp / "server.pem"))
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp / "apns-key.p8").write_bytes(pem)


def write_fcm_key(tmp: Path, port: int) -> None:
    """A service-account key whose token_uri is the fake server's /token."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    document = {
        "type": "service_account", "project_id": FCM_PROJECT, "private_key_id": "0123456789abcdef",
        "private_key": pem, "client_email": FCM_EMAIL, "token_uri": f"http://{HOST}:{port}/token",
    }  # fmt: skip
    (tmp / "service-account.json").write_text(json.dumps(document))


CHANNELS: dict[str, Channel] = {
    "sms": Channel(
        name="sms",
        limit_setting="NOTIFYCTL_SMS_MAX_CONNECTIONS",
        default_limit=16,
        env=lambda tmp, port: {
            "NOTIFYCTL_SMS_URL": f"http://{HOST}:{port}",
            "NOTIFYCTL_SMS_ACCOUNT_SID": SMS_SID,
            "NOTIFYCTL_SMS_AUTH_TOKEN": SMS_TOKEN,
            "NOTIFYCTL_SMS_FROM": SMS_FROM,
        },
        item=lambda seq: {
            "user_id": f"user-{seq % 997}",
            "channel": "sms",
            "to": phone(seq),
            "body": SMS_BODY,
        },
        key=lambda item, nid: str(item["to"]),
        client=sms_client,
        target_per_s=1000,
        server_args=lambda tmp: ["--sid", SMS_SID, "--token", SMS_TOKEN],
    ),
    "fcm": Channel(
        name="fcm",
        limit_setting="NOTIFYCTL_FCM_MAX_CONNECTIONS",
        default_limit=16,
        env=lambda tmp, port: {
            "NOTIFYCTL_FCM_CREDENTIALS_FILE": str(tmp / "service-account.json"),
            "NOTIFYCTL_FCM_URL": f"http://{HOST}:{port}",
        },
        item=lambda seq: {
            "user_id": f"user-{seq % 997}",
            "channel": "fcm",
            "to": fcm_token(seq),
            "title": TITLE,
            "body": BODY,
            "data": {"seq": seq},
        },
        key=lambda item, nid: nid,
        client=fcm_client,
        target_per_s=1000,
        server_args=lambda tmp: ["--credentials", str(tmp / "service-account.json")],
        prepare=write_fcm_key,
    ),
    "apns": Channel(
        name="apns",
        limit_setting="NOTIFYCTL_APNS_MAX_STREAMS",
        # 0 (the default) leaves the streams to HTTP/2 and the worker's 100 deliveries in flight
        default_limit=100,
        env=lambda tmp, port: {
            "NOTIFYCTL_APNS_KEY_FILE": str(tmp / "apns-key.p8"),
            "NOTIFYCTL_APNS_KEY_ID": APNS_KEY_ID,
            "NOTIFYCTL_APNS_TEAM_ID": APNS_TEAM_ID,
            "NOTIFYCTL_APNS_TOPIC": APNS_TOPIC,
            "NOTIFYCTL_APNS_URL": f"https://{HOST}:{port}",
            "NOTIFYCTL_CHANNEL_CA_FILE": str(tmp / "ca.pem"),
        },
        item=lambda seq: {
            "user_id": f"user-{seq % 997}",
            "channel": "apns",
            "to": apns_token(seq),
            "title": TITLE,
            "body": BODY,
            "data": {"seq": seq},
        },  # fmt: skip
        key=lambda item, nid: str(item["to"]),
        client=apns_client,
        target_per_s=1000,
        server_args=lambda tmp: [
            "--cert",
            str(tmp / "server.pem"),
            "--key",
            str(tmp / "server.pem"),
            "--apns-key",
            str(tmp / "apns-key.p8"),
        ],  # fmt: skip
        prepare=write_apns_files,
    ),
    "email": Channel(
        name="email",
        limit_setting="NOTIFYCTL_SMTP_MAX_CONNECTIONS",
        default_limit=4,
        env=lambda tmp, port: {
            "NOTIFYCTL_SMTP_URL": f"smtp://{HOST}:{port}?starttls=off",
            "NOTIFYCTL_EMAIL_FROM": EMAIL_FROM,
        },
        item=lambda seq: {
            "user_id": f"user-{seq % 997}",
            "channel": "email",
            "to": email_to(seq),
            "title": TITLE,
            "body": BODY,
        },
        key=lambda item, nid: str(item["to"]),
        client=email_client,
        target_per_s=300,
    ),
}


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options:
    channels: tuple[str, ...]
    count: int
    ceiling_count: int
    runs: int
    workers: int
    concurrency: int  # 0: each channel's default
    ceiling_procs: int
    bracket: bool
    senders: int
    batch: int
    timeout: float
    stall: float
    profile: Path | None
    json_path: Path | None
    keep: bool
    env: dict[str, str]

    def limit(self, channel: Channel) -> int:
        return self.concurrency or channel.default_limit


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description="notifyctl provider-channel benchmark")
    p.add_argument("--channel", default="sms,fcm", help=f"comma-separated: {', '.join(CHANNELS)}")
    p.add_argument("--count", type=int, default=20_000, help="notifications per end-to-end run")
    p.add_argument("--ceiling-count", type=int, default=0, help="raw requests; 0: --count")
    p.add_argument("--runs", type=int, default=1, help="runs per channel; the median is shown")
    p.add_argument("--workers", type=int, default=2, help="worker processes (notifyctl up)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="deliveries in flight per worker (the channel's *_MAX_CONNECTIONS) and per ceiling"
        " client process; 0: the channel's default (sms, fcm 16; email 4)",
    )
    p.add_argument("--ceiling-procs", type=int, default=0, help="ceiling clients; 0: --workers")
    p.add_argument(
        "--bracket",
        action="store_true",
        help="measure the ceiling again after the end-to-end run; ratio against the mean of both",
    )
    p.add_argument("--senders", type=int, default=4, help="concurrent batch senders (intake)")
    p.add_argument("--batch", type=int, default=1000, help="notifications per batch (max 1000)")
    p.add_argument("--timeout", type=float, default=300, help="longest wait for delivery, s")
    p.add_argument("--stall", type=float, default=30, help="give up after this long w/o progress")
    p.add_argument("--profile", type=Path, help="py-spy the workers and the API into this dir")
    p.add_argument("--json", type=Path, dest="json_path", help="write every run here as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary dirs")
    p.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the service")
    a = p.parse_args(argv)
    channels = tuple(c.strip() for c in a.channel.split(",") if c.strip())
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown or not channels:
        p.error(f"--channel: unknown {unknown}; known: {', '.join(CHANNELS)}")
    if not 1 <= a.batch <= 1000:
        p.error("--batch must be between 1 and 1000")
    env = dict(item.split("=", 1) for item in a.env)
    return Options(
        channels, a.count, a.ceiling_count or a.count, a.runs, a.workers, a.concurrency,
        a.ceiling_procs or a.workers, a.bracket, a.senders, a.batch, a.timeout, a.stall, a.profile,
        a.json_path, a.keep, env,
    )  # fmt: skip


# --------------------------------------------------------------------------- the fake provider


class ProviderServer:
    """provider_servers.py as a process of its own; stopped by PID."""

    def __init__(self, channel: Channel, tmp: Path) -> None:
        self.channel = channel
        self.tmp = tmp
        self.port = e2e.free_port()
        self.stats_port = self.port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def stats_url(self) -> str:
        return f"http://{HOST}:{self.stats_port}"

    def start(self) -> None:
        self.channel.prepare(self.tmp, self.port)
        argv = [sys.executable, str(HERE / "provider_servers.py"), self.channel.name,
                "--port", str(self.port), *self.channel.server_args(self.tmp)]  # fmt: skip
        with (self.tmp / "provider.log").open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            log_text = (self.tmp / "provider.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"provider server did not start: {line!r} {log_text}")
        self.stats_port = int(json.loads(line.removeprefix("READY "))["stats_port"])

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.stats_url}/stats", timeout=10).json())

    def dump(self) -> dict[str, list[float]]:
        return dict(httpx.get(f"{self.stats_url}/dump", timeout=60).json()["keys"])

    def reset(self) -> None:
        httpx.post(f"{self.stats_url}/reset", timeout=10).raise_for_status()

    def cpu_s(self) -> float:
        assert self.proc is not None
        t = psutil.Process(self.proc.pid).cpu_times()
        return float(t.user + t.system)

    def stop(self) -> None:
        if self.proc is not None:
            e2e.stop_process(self.proc, SERVER_STOP_S)
            if self.proc.stdout is not None:
                self.proc.stdout.close()


# --------------------------------------------------------------------------- the ceiling


@dataclass
class Ceiling:
    requests: int
    ok: int
    failed: int
    per_s: float
    client_cpu_s: float
    server_cpu_s: float
    window_s: float
    other_cores: float
    server_received: int
    server_duplicates: int


def measure_ceiling(opts: Options, channel: Channel, server: ProviderServer) -> Ceiling:
    """``--ceiling-procs`` client processes, ``concurrency`` in flight each, started together."""
    procs = opts.ceiling_procs
    share = opts.ceiling_count // procs
    start_at = time.time() + 2.0  # after every client has imported and connected
    clients = []
    for n in range(procs):
        job = ClientJob(channel.name, server.url, server.port, n * share, share,
                        opts.limit(channel), start_at, str(server.tmp))  # fmt: skip
        argv = [sys.executable, str(Path(__file__).resolve()), "--ceiling-client",
                json.dumps(asdict(job))]  # fmt: skip
        clients.append(subprocess.Popen(argv, stdout=subprocess.PIPE))
    # the clients import and connect before start_at; the window starts there
    time.sleep(max(0.0, start_at - time.time()))
    server_cpu0, busy0 = server.cpu_s(), e2e.busy_core_s()
    results = []
    try:
        for client in clients:
            out, _ = client.communicate(timeout=CLIENT_BOUND_S)
            lines = out.decode().strip().splitlines()
            if client.returncode != 0 or not lines:
                raise RuntimeError(f"a ceiling client failed (exit {client.returncode})")
            results.append(json.loads(lines[-1]))
    finally:
        for client in clients:
            e2e.stop_process(client, 5)
    server_cpu, busy = server.cpu_s() - server_cpu0, e2e.busy_core_s() - busy0
    span = time.time() - start_at
    started = min(r["started"] for r in results)
    finished = max(r["finished"] for r in results)
    window = finished - started
    ok = sum(r["ok"] for r in results)
    client_cpu = sum(r["cpu_s"] for r in results)
    stats = server.stats()
    # busy also holds the clients' exit and our own polling: a slight overestimate of the others
    other = max(0.0, busy - server_cpu - client_cpu) / max(span, 1e-9)
    return Ceiling(
        share * procs, ok, sum(r["failed"] for r in results), ok / max(window, 1e-9),
        client_cpu, server_cpu, window, other, int(stats["received"]), int(stats["duplicates"]),
    )  # fmt: skip


def ceiling_client_main(spec: str) -> None:
    job = ClientJob(**json.loads(spec))
    try:
        import uvloop

        result = uvloop.run(CHANNELS[job.channel].client(job))
    except ImportError:
        result = asyncio.run(CHANNELS[job.channel].client(job))
    print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------- end to end


@dataclass
class Intake:
    #: notification id -> the key the server counts it by
    accepted: dict[str, str] = field(default_factory=dict)
    rejected: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0


async def send_all(opts: Options, channel: Channel, api_url: str) -> Intake:
    url = f"{api_url}/v1/notifications/batch"
    starts = list(range(0, opts.count, opts.batch))
    intake = Intake()

    async def send(session: aiohttp.ClientSession, start: int) -> None:
        items = [channel.item(seq) for seq in range(start, min(start + opts.batch, opts.count))]
        body = json.dumps({"notifications": items}).encode()
        for attempt in range(5):
            headers = {"content-type": "application/json"}
            async with session.post(url, data=body, headers=headers) as r:
                if r.status == 200:
                    results = (await r.json())["results"]
                    break
                if r.status not in (429, 503) or attempt == 4:
                    raise RuntimeError(f"batch refused: HTTP {r.status} {await r.text()}")
            await asyncio.sleep(0.2 * (attempt + 1))
        for item, result in zip(items, results, strict=True):
            if result["status"] == 201:
                nid = result["notification"]["id"]
                intake.accepted[nid] = channel.key(item, nid)
            else:
                intake.rejected += 1

    async def sender(session: aiohttp.ClientSession) -> None:
        while starts:
            await send(session, starts.pop(0))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        intake.started_at = time.time()
        await asyncio.gather(*(sender(session) for _ in range(opts.senders)))
        intake.finished_at = time.time()
    return intake


@dataclass
class RunResult:
    channel: str
    run: int
    limit: int
    ceiling: Ceiling
    accepted: int
    intake_per_s: float
    delivered: int
    delivered_per_s: float
    #: delivered after intake ended, per second of the rest of the run (the API idle)
    drain_per_s: float
    ratio: float
    worker_cpu_s: float
    api_cpu_s: float
    server_cpu_s: float
    duplicates: int
    lost: int
    unknown: int
    wall_s: float
    other_cores: float
    load_before: float
    statuses: dict[str, int]
    worker_rss_mb: list[float]
    restarts: int
    server_refused: int
    tokens: int
    #: with --bracket: the ceiling measured again after the end-to-end run
    ceiling_after: Ceiling | None = None

    @property
    def ceiling_per_s(self) -> float:
        """The run's ceiling: the one before, or with --bracket the mean of before and after."""
        if self.ceiling_after is None:
            return self.ceiling.per_s
        return (self.ceiling.per_s + self.ceiling_after.per_s) / 2

    @property
    def worker_cpu_per_1000(self) -> float:
        return 1000 * self.worker_cpu_s / max(self.delivered, 1)

    @property
    def ceiling_cpu_per_1000(self) -> float:
        return 1000 * self.ceiling.client_cpu_s / max(self.ceiling.ok, 1)

    @property
    def client_share(self) -> float:
        """The raw client's CPU per request over the workers' per notification: the ratio the
        channel would reach if CPU were the only limit, steadier than the rates when the
        machine is shared."""
        return self.ceiling_cpu_per_1000 / max(self.worker_cpu_per_1000, 1e-9)


def e2e_options(opts: Options, channel: Channel, env: dict[str, str]) -> e2e.Options:
    return e2e.Options(
        opts.count, opts.workers, (channel.name,), opts.runs, opts.senders, opts.batch, 0.0,
        opts.timeout, opts.stall, opts.profile, (), opts.keep, env,
    )  # fmt: skip


def run_once(opts: Options, channel: Channel, index: int) -> RunResult:
    tmp = Path(tempfile.mkdtemp(prefix=f"notifyctl-bench-{channel.name}-"))
    server = ProviderServer(channel, tmp)
    service: e2e.Service | None = None
    try:
        server.start()
        ceiling = measure_ceiling(opts, channel, server)
        print(f"  ceiling: {ceiling.ok:,} ok, {ceiling.failed} failed at {ceiling.per_s:,.0f}/s;"
              f" client CPU {1000 * ceiling.client_cpu_s / max(ceiling.ok, 1):.3f} s/1000, server"
              f" {ceiling.server_cpu_s:.1f} s; other load {ceiling.other_cores:.1f} cores",
              file=sys.stderr, flush=True)  # fmt: skip
        server.reset()
        env = {**channel.env(tmp, server.port), channel.limit_setting: str(opts.limit(channel)),
               **opts.env}  # fmt: skip
        data_dir = tmp / "data"
        data_dir.mkdir()
        service = e2e.Service(e2e_options(opts, channel, env), data_dir, channel.name)
        service.start()
        assert service.sampler is not None and server.proc is not None
        service.sampler.extra[server.proc.pid] = "provider"
        if opts.profile is not None:
            service.start_profilers(opts.profile, f"{channel.name}-run{index}")
        result = measure(opts, channel, index, server, service, ceiling)
        if opts.bracket:
            server.reset()
            result.ceiling_after = measure_ceiling(opts, channel, server)
            result.ratio = result.delivered_per_s / max(result.ceiling_per_s, 1e-9)
        return result
    finally:
        if service is not None:
            service.stop()
        server.stop()
        if opts.keep:
            print(f"  kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def measure(
    opts: Options,
    channel: Channel,
    index: int,
    server: ProviderServer,
    service: e2e.Service,
    ceiling: Ceiling,
) -> RunResult:
    assert service.sampler is not None
    load_before = os.getloadavg()[0]
    cpu0, busy0, t0 = service.sampler.cpu_now(), e2e.busy_core_s(), time.monotonic()
    intake = asyncio.run(send_all(opts, channel, service.url))
    target = len(intake.accepted)
    if intake.rejected:
        print(f"  the API refused {intake.rejected} of {opts.count} notifications (see the"
              " service log with --keep)", file=sys.stderr, flush=True)  # fmt: skip
    if not target:
        raise RuntimeError(f"the API accepted no {channel.name} notification")
    eopts = e2e_options(opts, channel, {})
    e2e.wait_for(lambda: int(server.stats()["unique"]), target, eopts)
    cpu1, busy1, t1 = service.sampler.cpu_now(), e2e.busy_core_s(), time.monotonic()
    time.sleep(1.0)  # let a late duplicate arrive, if there is one
    keys = server.dump()
    stats = server.stats()
    expected = set(intake.accepted.values())
    firsts = [keys[k][1] for k in expected if k in keys]
    delivered = len(firsts)
    last = max(firsts, default=intake.started_at)
    wall = max(last - intake.started_at, 1e-9)
    after = sum(1 for at in firsts if at > intake.finished_at)
    drain_s = last - intake.finished_at
    drain_per_s = after / drain_s if drain_s > 0.5 else float("nan")
    cpu = {role: cpu1[role] - cpu0.get(role, 0.0) for role in cpu1}
    worker_cpu = sum(v for role, v in cpu.items() if role.startswith("worker"))
    others = (busy1 - busy0) - sum(cpu.values())
    service.stop()  # before reading the store: every outcome written
    workers = service.sampler.workers()
    return RunResult(
        channel=channel.name, run=index, limit=opts.limit(channel), ceiling=ceiling,
        accepted=target,
        intake_per_s=target / max(intake.finished_at - intake.started_at, 1e-9),
        delivered=delivered, delivered_per_s=delivered / wall, drain_per_s=drain_per_s,
        ratio=(delivered / wall) / max(ceiling.per_s, 1e-9),
        worker_cpu_s=worker_cpu, api_cpu_s=cpu.get("api", 0.0),
        server_cpu_s=cpu.get("provider", 0.0),
        duplicates=int(sum(int(keys[k][0]) - 1 for k in keys)),
        lost=len(expected - keys.keys()), unknown=len(keys.keys() - expected), wall_s=wall,
        other_cores=max(0.0, others) / max(t1 - t0, 1e-9), load_before=load_before,
        statuses=service.status_counts(),
        worker_rss_mb=[w.peak_rss / 2**20 for w in workers],
        restarts=sum(len(info.pids) - 1 for info in service.sampler.procs.values()),
        server_refused=int(stats["refused"]), tokens=int(stats["tokens"]),
    )  # fmt: skip


# --------------------------------------------------------------------------- report


def describe(r: RunResult) -> str:
    c = r.ceiling
    rss = ", ".join(f"{mb:.0f}" for mb in r.worker_rss_mb)
    return (
        f"  {r.channel} run {r.run}: ceiling {c.per_s:,.0f}/s ({c.ok:,} ok, {c.failed} failed,"
        f" client CPU {r.ceiling_cpu_per_1000:.3f} s/1000, server {c.server_cpu_s:.1f} s, other"
        f" {c.other_cores:.1f} cores); end to end: accepted {r.accepted:,} at"
        f" {r.intake_per_s:,.0f}/s, delivered {r.delivered:,} at {r.delivered_per_s:,.0f}/s in"
        f" {r.wall_s:.1f} s = {100 * r.ratio:.0f} % of the ceiling"
        + (
            f" (after: {r.ceiling_after.per_s:,.0f}/s, client CPU"
            f" {1000 * r.ceiling_after.client_cpu_s / max(r.ceiling_after.ok, 1):.3f} s/1000,"
            f" other {r.ceiling_after.other_cores:.1f} cores)"
            if r.ceiling_after is not None
            else ""
        )
        + f" (after intake"
        f" {r.drain_per_s:,.0f}/s); workers"
        f" {r.worker_cpu_s:.1f} CPU s ({r.worker_cpu_per_1000:.3f} s/1000), API"
        f" {r.api_cpu_s:.1f} s, provider {r.server_cpu_s:.1f} s; other load"
        f" {r.other_cores:.1f} cores (load before {r.load_before:.1f}); dup {r.duplicates} lost"
        f" {r.lost} unknown {r.unknown}; provider refused {r.server_refused}, tokens {r.tokens};"
        f" store {r.statuses}; worker RSS MB [{rss}]; restarts {r.restarts}"
    )


def median_of(results: list[RunResult]) -> RunResult:
    ordered = sorted(results, key=lambda r: r.delivered_per_s)
    return ordered[(len(ordered) - 1) // 2]


def table(rows: dict[str, list[RunResult]], opts: Options) -> str:
    lines = [
        "| channel | runs | in flight per worker | ceiling req/s | delivered/s | ratio | target"
        " | worker CPU s / 1,000 | ceiling client CPU s / 1,000 | CPU ratio | duplicates | lost"
        " | delivered/s per run (after intake) | ceiling per run"
        " | other load, cores (ceiling / e2e) |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, results in rows.items():
        m = median_of(results)
        target = CHANNELS[name].target_per_s
        ratio = statistics.median(r.ratio for r in results)
        met = "met" if m.delivered_per_s >= target and ratio >= 0.6 else "not met"
        per_run = ", ".join(f"{r.delivered_per_s:,.0f} ({r.drain_per_s:,.0f})" for r in results)
        ceilings = ", ".join(
            f"{r.ceiling.per_s:,.0f}"
            + (f" / {r.ceiling_after.per_s:,.0f}" if r.ceiling_after is not None else "")
            for r in results
        )
        noise = ", ".join(f"{r.ceiling.other_cores:.1f} / {r.other_cores:.1f}" for r in results)
        ceiling = statistics.median(r.ceiling_per_s for r in results)
        lines.append(
            f"| {name} | {len(results)} | {m.limit} | {ceiling:,.0f}"
            f" | {m.delivered_per_s:,.0f} | {100 * ratio:.0f} % | >= {target:,.0f}/s and 60 %:"
            f" {met} | {m.worker_cpu_per_1000:.3f} | {m.ceiling_cpu_per_1000:.3f}"
            f" | {100 * statistics.median(r.client_share for r in results):.0f} %"
            f" | {max(r.duplicates for r in results)} | {max(r.lost for r in results)}"
            f" | {per_run} | {ceilings} | {noise} |"
        )
    note = (
        f"\n{opts.count:,} notifications per end-to-end run ({opts.senders} senders, batches of"
        f" {opts.batch}), {opts.workers} workers; ceiling: {opts.ceiling_count:,} raw requests"
        f" from {opts.ceiling_procs} client process(es) with the same in-flight limit each"
        f"{', measured before and after each run (mean)' if opts.bracket else ''}."
        " delivered/s, CPU are the median run's (by delivered/s); ceiling and ratio are medians"
        " over the runs (ratio: each run's delivered/s over its own ceiling); duplicates and"
        " lost the worst run's. CPU ratio: ceiling client CPU per request over worker CPU per"
        f" notification (median over the runs). The machine has {psutil.cpu_count()} cores."
    )
    return "\n".join(lines) + note


def run_all(opts: Options) -> dict[str, list[RunResult]]:
    """Run by run, each channel in turn, so every channel sees each stretch of the noise."""
    rows: dict[str, list[RunResult]] = {name: [] for name in opts.channels}
    for index in range(1, opts.runs + 1):
        for name in opts.channels:
            print(f"{name} run {index}/{opts.runs} ...", file=sys.stderr, flush=True)
            result = run_once(opts, CHANNELS[name], index)
            print(describe(result), file=sys.stderr, flush=True)
            rows[name].append(result)
            if opts.json_path is not None:
                write_json(opts, rows)
    return rows


def write_json(opts: Options, rows: dict[str, list[RunResult]]) -> None:
    document = {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
        "runs": {
            name: [
                {
                    **asdict(r),
                    "worker_cpu_per_1000": r.worker_cpu_per_1000,
                    "ceiling_cpu_per_1000": r.ceiling_cpu_per_1000,
                    "client_share": r.client_share,
                }
                for r in results
            ]
            for name, results in rows.items()
        },
    }
    assert opts.json_path is not None
    opts.json_path.write_text(json.dumps(document, indent=2))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--ceiling-client"]:
        ceiling_client_main(args[1])
        return
    opts = parse_args(args)
    rows = run_all(opts)
    print(table(rows, opts))
    if opts.profile is not None:
        for name in opts.channels:
            for kind in ("worker", "api"):
                print(f"\npy-spy, {name} run(s), {kind} processes ({opts.profile / kind}):")
                print(e2e.profile_top(opts.profile / kind, f"{name}-run*.txt"))


if __name__ == "__main__":
    main()
