"""Fast stand-ins for the providers of notifyctl's provider channels, for benchmarks/channels.py.

Each runs as a process of its own on 127.0.0.1, answers every well-formed send as the real
provider answers a success, and counts what it received, per key (the SMS's ``To``, the FCM
message's ``data.notification_id``, the email's ``RCPT TO``, the APNs device token), so
duplicates and lost can be told:

    python benchmarks/provider_servers.py sms --port 0 [--sid AC... --token ...]
    python benchmarks/provider_servers.py fcm --port 0 --credentials sa.json
    python benchmarks/provider_servers.py email --port 0 --stats-port 0
    python benchmarks/provider_servers.py apns --port 0 --stats-port 0 --cert c.pem --key k.pem

It prints one line, ``READY {"port": N, "stats_port": M}``, once it listens. The HTTP
providers serve the counts on their own port, the SMTP and APNs (HTTP/2 over TLS) ones on a side
HTTP/1.1 port (``--stats-port``):

- ``GET /stats`` -> ``{"requests", "received", "unique", "duplicates", "refused", "tokens",
  "first_at", "last_at"}`` (``received``: sends accepted; times are ``time.time()`` of the first
  and last accepted send)
- ``GET /dump``  -> ``{"keys": {key: [count, first_at]}}``
- ``POST /reset`` forgets everything (between the ceiling and the end-to-end run)

The servers are hand-written asyncio protocols (HTTP/1.1 keep-alive with Content-Length bodies;
SMTP without TLS or AUTH; HTTP/2 over TLS with ALPN ``h2`` through the ``h2`` library for APNs)
on uvloop when it is installed, with no awaits in the request path, so
that they stay far faster than the clients they serve. Adding a provider is one ``Handler``
class (or protocol) and one entry in ``SERVERS``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

HOST = "127.0.0.1"
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 411: "Length Required"}  # fmt: skip

#: (status, content type, body)
Reply = tuple[int, str, bytes]
CRLF = "\r\n"


@dataclass
class Counts:
    """What a provider accepted, per key."""

    requests: int = 0
    refused: int = 0
    tokens: int = 0
    keys: dict[str, list[float]] = field(default_factory=dict)  # key -> [count, first_at]
    received: int = 0
    first_at: float | None = None
    last_at: float | None = None

    def accept(self, key: str) -> None:
        now = time.time()
        self.received += 1
        entry = self.keys.get(key)
        if entry is None:
            self.keys[key] = [1, now]
        else:
            entry[0] += 1
        if self.first_at is None:
            self.first_at = now
        self.last_at = now

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "received": self.received, "unique": len(self.keys),
            "duplicates": self.received - len(self.keys), "refused": self.refused,
            "tokens": self.tokens, "first_at": self.first_at, "last_at": self.last_at,
        }  # fmt: skip


def json_reply(status: int, document: Any) -> Reply:
    return status, "application/json", json.dumps(document).encode()


class Handler:
    """An HTTP provider: ``handle`` answers one request without awaiting anything."""

    def __init__(self, counts: Counts, args: argparse.Namespace) -> None:
        self.counts = counts
        self.args = args

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if path == "/stats" and method == "GET":
            return json_reply(200, self.counts.stats())
        if path == "/dump" and method == "GET":
            return json_reply(200, {"keys": self.counts.keys})
        if path == "/reset" and method == "POST":
            self.counts.__init__()  # type: ignore[misc]
            return json_reply(200, {"reset": True})
        self.counts.requests += 1
        return self.provider(method, path, headers, body)

    def provider(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        return json_reply(404, {"error": "not found"})


class StatsOnly(Handler):
    """The side port of a provider that does not speak HTTP."""


class SmsHandler(Handler):
    """Twilio's ``POST /2010-04-01/Accounts/{sid}/Messages.json``: basic auth, a form with
    ``To``, ``From`` and ``Body``; 201 with a message resource. Counted by ``To``."""

    def __init__(self, counts: Counts, args: argparse.Namespace) -> None:
        super().__init__(counts, args)
        self.path = f"/2010-04-01/Accounts/{args.sid}/Messages.json"
        credentials = base64.b64encode(f"{args.sid}:{args.token}".encode()).decode()
        self.authorization = f"Basic {credentials}"

    def provider(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if method != "POST" or path != self.path:
            return json_reply(404, {"code": 20404, "message": "not found", "status": 404})
        if headers.get("authorization") != self.authorization:
            self.counts.refused += 1
            return json_reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        form = dict(parse_qsl(body.decode()))
        to = form.get("To", "")
        if not to or not form.get("From") or not form.get("Body"):
            self.counts.refused += 1
            return json_reply(400, {"code": 21604, "message": "A field is missing", "status": 400})
        self.counts.accept(to)
        sid = "SM" + secrets.token_hex(16)
        return json_reply(201, {"sid": sid, "status": "queued", "to": to, "from": form["From"]})


class FcmHandler(Handler):
    """Google's token endpoint (``POST /token``, the jwt-bearer grant; the assertion is verified
    when ``--credentials`` names the key file) and FCM v1's ``messages:send`` (the bearer must be
    a token this server handed out). Counted by ``message.data.notification_id``."""

    def __init__(self, counts: Counts, args: argparse.Namespace) -> None:
        super().__init__(counts, args)
        self.issued: set[str] = set()
        self.public_key: Any = None
        self.token_uri = ""
        project = args.project
        if args.credentials:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            with open(args.credentials, encoding="utf-8") as f:
                document = json.load(f)
            key = load_pem_private_key(document["private_key"].encode(), password=None)
            self.public_key = key.public_key()
            self.token_uri = document["token_uri"]
            project = document["project_id"]
        self.send_path = f"/v1/projects/{project}/messages:send"

    def provider(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if method == "POST" and path == "/token":
            return self.token(body)
        if method != "POST" or path != self.send_path:
            return json_reply(404, {"error": {"code": 404, "status": "NOT_FOUND"}})
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.issued:
            self.counts.refused += 1
            error = {"code": 401, "status": "UNAUTHENTICATED", "message": "invalid credentials"}
            return json_reply(401, {"error": error})
        try:
            message = json.loads(body)["message"]
            key = message["data"]["notification_id"]
            if not message["token"]:
                raise ValueError("no token")
        except (ValueError, KeyError, TypeError):
            self.counts.refused += 1
            error = {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad message"}
            return json_reply(400, {"error": error})
        self.counts.accept(key)
        name = f"projects/{self.args.project}/messages/{self.counts.received}"
        return json_reply(200, {"name": name})

    def token(self, body: bytes) -> Reply:
        form = dict(parse_qsl(body.decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return json_reply(400, {"error": "unsupported_grant_type"})
        if self.public_key is not None:
            import jwt

            try:
                jwt.decode(form.get("assertion", ""), self.public_key, algorithms=["RS256"],
                           audience=self.token_uri)  # fmt: skip
            except jwt.InvalidTokenError as exc:
                return json_reply(400, {"error": "invalid_grant", "error_description": str(exc)})
        self.counts.tokens += 1
        value = f"ya29.bench-{self.counts.tokens}-{secrets.token_urlsafe(24)}"
        self.issued.add(value)
        return json_reply(200, {"access_token": value, "expires_in": 3599, "token_type": "Bearer"})


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; bodies by Content-Length (chunked ones are refused with 411)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.respond((411, "text/plain", b"chunked bodies are not supported"), True)
                return
            total = end + 4 + int(headers.get("content-length") or 0)
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            path = target.partition("?")[0]
            close = headers.get("connection", "").lower() == "close"
            self.respond(self.handler.handle(method, path, headers, body), close)

    def respond(self, reply: Reply, close: bool) -> None:
        assert self.transport is not None
        status, content_type, body = reply
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: {content_type}"
            f"\r\nContent-Length: {len(body)}\r\n{'Connection: close' + CRLF if close else ''}"
            "\r\n"
        )
        self.transport.write(head.encode() + body)
        if close:
            self.transport.close()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class SmtpProtocol(asyncio.Protocol):
    """Enough ESMTP for aiosmtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; every
    message is accepted and counted once per ``RCPT TO`` address. No TLS, no AUTH."""

    EHLO = b"250-bench.invalid\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n"

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.buffer = bytearray()
        self.in_data = False
        self.recipients: list[str] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(b"220 bench.invalid ESMTP ready\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            if self.in_data:
                if self.buffer.startswith(b".\r\n"):
                    cut = 3
                else:
                    end = self.buffer.find(b"\r\n.\r\n")
                    if end < 0:
                        return
                    cut = end + 5
                del self.buffer[:cut]
                self.in_data = False
                self.counts.requests += 1
                for recipient in self.recipients:
                    self.counts.accept(recipient)
                self.recipients = []
                self.transport.write(b"250 2.0.0 Ok: queued\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line = self.buffer[:end].decode("utf-8", "replace")
            del self.buffer[: end + 2]
            self.command(line)

    def command(self, line: str) -> None:
        assert self.transport is not None
        verb = line[:4].upper()
        if verb == "EHLO":
            self.transport.write(self.EHLO)
        elif verb in ("HELO", "NOOP"):
            self.transport.write(b"250 Ok\r\n")
        elif verb in ("MAIL", "RSET"):
            self.recipients = []
            self.transport.write(b"250 2.1.0 Ok\r\n")
        elif verb == "RCPT":
            address = line.partition(":")[2].strip().split(" ")[0].strip("<>")
            self.recipients.append(address)
            self.transport.write(b"250 2.1.5 Ok\r\n")
        elif verb == "DATA":
            if not self.recipients:
                self.transport.write(b"503 5.5.1 Error: need RCPT command\r\n")
                return
            self.in_data = True
            self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == "QUIT":
            self.transport.write(b"221 2.0.0 Bye\r\n")
            self.transport.close()
            self.transport = None
        else:
            self.transport.write(b"502 5.5.2 Error: command not recognized\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class ApnsProtocol(asyncio.Protocol):
    """Apple's provider API over HTTP/2: ``POST /3/device/{token}`` with a bearer provider token
    (an ES256 JWT, verified once per distinct token when ``--apns-key`` names the .p8 key) and
    the push's JSON; 200 with the request's ``apns-id``. Counted by device token. Advertises
    ``--max-streams`` concurrent streams (APNs: 1,000 once the connection is established)."""

    def __init__(self, counts: Counts, args: argparse.Namespace, tokens: set[bytes]) -> None:
        import h2.config
        import h2.connection

        self.counts = counts
        self.args = args
        self.good_tokens = tokens
        # no header validation or normalisation: the server's CPU is the benchmark's, not ours
        config = h2.config.H2Configuration(
            client_side=False, header_encoding=None,
            validate_inbound_headers=False, normalize_inbound_headers=False,
            validate_outbound_headers=False, normalize_outbound_headers=False,
        )  # fmt: skip
        self.conn = h2.connection.H2Connection(config=config)
        self.streams: dict[int, tuple[dict[bytes, bytes], bytearray]] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conn.local_settings.max_concurrent_streams = self.args.max_streams
        self.conn.initiate_connection()
        self.transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        import h2.events
        import h2.exceptions

        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            assert self.transport is not None
            self.transport.write(self.conn.data_to_send())
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.streams[event.stream_id] = (dict(event.headers), bytearray())
            elif isinstance(event, h2.events.DataReceived):
                self.streams[event.stream_id][1].extend(event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                headers, body = self.streams.pop(event.stream_id)
                self.respond(event.stream_id, headers, bytes(body))
            elif isinstance(event, h2.events.StreamReset):
                self.streams.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated) and self.transport is not None:
                self.transport.close()
        if self.transport is not None:
            self.transport.write(self.conn.data_to_send())

    def respond(self, stream_id: int, headers: dict[bytes, bytes], body: bytes) -> None:
        self.counts.requests += 1
        path = headers.get(b":path", b"")
        apns_id = headers.get(b"apns-id", b"")
        status, reason = b"200", b""
        if headers.get(b":method") != b"POST" or not path.startswith(b"/3/device/"):
            status, reason = b"404", b"BadPath"
        elif not self.token_ok(headers.get(b"authorization", b"")):
            status, reason = b"403", b"InvalidProviderToken"
        elif not body or not headers.get(b"apns-topic"):
            status, reason = b"400", b"PayloadEmpty" if not body else b"MissingTopic"
        if status == b"200":
            self.counts.accept(path[len(b"/3/device/") :].decode())
            self.conn.send_headers(stream_id, [(b":status", b"200"), (b"apns-id", apns_id)],
                                   end_stream=True)  # fmt: skip
            return
        self.counts.refused += 1
        answer = json.dumps({"reason": reason.decode()}).encode()
        response = [(b":status", status), (b"apns-id", apns_id),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode())]  # fmt: skip
        self.conn.send_headers(stream_id, response)
        self.conn.send_data(stream_id, answer, end_stream=True)

    def token_ok(self, authorization: bytes) -> bool:
        if not authorization.lower().startswith(b"bearer "):
            return False
        token = authorization[7:]
        if token in self.good_tokens:
            return True
        if not self.args.apns_key:
            self.good_tokens.add(token)
            return True
        import jwt
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        with open(self.args.apns_key, "rb") as f:
            public = load_pem_private_key(f.read(), password=None).public_key()
        try:
            jwt.decode(token, public, algorithms=["ES256"])  # type: ignore[arg-type]
        except jwt.InvalidTokenError:
            return False
        self.counts.tokens += 1
        self.good_tokens.add(token)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


#: makes the protocol factory of one server: ``factory(counts, args)() -> a new connection's``
ProtocolFactory = Callable[[Counts, argparse.Namespace], Callable[[], asyncio.Protocol]]


def http_server(handler_class: type[Handler]) -> ProtocolFactory:
    """One handler shared by every connection (the FCM tokens it issued, the counts)."""

    def factory(counts: Counts, args: argparse.Namespace) -> Callable[[], asyncio.Protocol]:
        handler = handler_class(counts, args)
        return lambda: HttpProtocol(handler)

    return factory


def smtp_server(counts: Counts, args: argparse.Namespace) -> Callable[[], asyncio.Protocol]:
    return lambda: SmtpProtocol(counts)


def apns_server(counts: Counts, args: argparse.Namespace) -> Callable[[], asyncio.Protocol]:
    tokens: set[bytes] = set()  # provider tokens verified, shared by the connections
    return lambda: ApnsProtocol(counts, args, tokens)


def server_tls(args: argparse.Namespace) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    context.set_alpn_protocols(["h2"])
    return context


@dataclass(frozen=True)
class Server:
    """How to serve one provider: its protocol, and whether its counts need a side HTTP port."""

    protocol: ProtocolFactory
    side_stats: bool = False
    tls: bool = False


SERVERS: dict[str, Server] = {
    "sms": Server(http_server(SmsHandler)),
    "fcm": Server(http_server(FcmHandler)),
    "email": Server(smtp_server, side_stats=True),
    "apns": Server(apns_server, side_stats=True, tls=True),
}


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    counts = Counts()
    spec = SERVERS[args.provider]
    tls = server_tls(args) if spec.tls else None
    main = await loop.create_server(spec.protocol(counts, args), HOST, args.port, ssl=tls)
    port = stats_port = main.sockets[0].getsockname()[1]
    if spec.side_stats:
        side = await loop.create_server(http_server(StatsOnly)(counts, args), HOST, args.stats_port)
        stats_port = side.sockets[0].getsockname()[1]
    print("READY " + json.dumps({"port": port, "stats_port": stats_port}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="fake providers for benchmarks/channels.py")
    p.add_argument("provider", choices=sorted(SERVERS))
    p.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    p.add_argument("--stats-port", type=int, default=0, help="the side HTTP port (email)")
    p.add_argument("--sid", default="ACbench00000000000000000000000000", help="sms account")
    p.add_argument("--token", default="bench-auth-token", help="sms auth token")
    p.add_argument("--project", default="notifyctl-bench", help="fcm project id")
    p.add_argument("--credentials", help="fcm: the service account key file (verifies JWTs)")
    p.add_argument("--cert", help="apns: the server's certificate chain (PEM)")
    p.add_argument("--key", help="apns: the server's private key (PEM)")
    p.add_argument("--apns-key", help="apns: the .p8 signing key (verifies provider tokens)")
    p.add_argument("--max-streams", type=int, default=1000, help="apns: concurrent streams")
    p.add_argument("--no-uvloop", action="store_true", help="the standard asyncio loop")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(serve(args))
            return
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
