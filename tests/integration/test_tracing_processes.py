"""Tracing between real processes: ``notifyctl up`` (API and a worker) exporting OTLP over HTTP
to a receiver this test runs on 127.0.0.1, configured by the standard OTEL_* variables only. A
POST carrying a ``traceparent`` and its delivery end up in that one trace: the API's request and
insert spans, the worker's attempt and webhook call, and the receiver's ``traceparent``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.proto", reason="tracing is optional: pip install '.[tracing]'")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from tests.helpers import Receiver, answers, free_port, stop, wait_until
from tests.ports import steady_base

pytestmark = pytest.mark.integration

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"


class Collector:
    """An OTLP/HTTP trace receiver: every span exported to POST /v1/traces, by name, with its
    trace id and the service that sent it."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        lock, spans = threading.Lock(), self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest.FromString(body)
                with lock:
                    spans.extend(exported(request))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Collector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def named(self, name: str) -> list[dict[str, Any]]:
        return [span for span in list(self.spans) if span["name"] == name]


def exported(request: ExportTraceServiceRequest) -> Iterator[dict[str, Any]]:
    for resource_spans in request.resource_spans:
        resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "name": span.name,
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent": span.parent_span_id.hex(),
                    "role": resource.get("notifyctl.role"),
                    "service": resource.get("service.name"),
                }


def test_a_post_and_its_delivery_are_one_trace_at_the_collector(tmp_path: Path) -> None:
    port = free_port()
    with Collector() as collector, Receiver() as receiver:
        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
               "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_SERVICE_NAME": "notify-test",
               "NOTIFYCTL_MONITOR_PORT_BASE": str(steady_base(1))}  # fmt: skip
        argv = [sys.executable, "-m", "notifyctl", "up", "--workers", "1", "--port", str(port),
                "--data-dir", str(tmp_path / "data")]  # fmt: skip
        with (tmp_path / "up.log").open("wb") as out:
            up = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            api = f"http://127.0.0.1:{port}"
            wait_until(lambda: up.poll() is not None or answers(f"{api}/health"), 60, "the API")
            body = {"user_id": "u1", "channel": "webhook", "to": receiver.url}
            status, created = call_traced(f"{api}/v1/notifications", body)
            assert status == 201, created
            wait_until(lambda: bool(receiver.counts()), 30, "the delivery")
            wait_until(lambda: bool(collector.named("webhook send")), 30, "the worker's spans")
        finally:
            stop(up, 60)
        delivered = receiver.snapshot()[0]
    in_trace = [s for s in collector.spans if s["trace_id"] == CALLER_TRACE]
    names = {(s["role"], s["name"]) for s in in_trace}
    assert {("api", "POST /v1/notifications"), ("api", "store insert"),
            ("worker", "notification deliver"), ("worker", "webhook send")} <= names  # fmt: skip
    assert {s["service"] for s in in_trace} == {"notify-test"}
    (webhook_call,) = collector.named("webhook send")
    assert delivered.traceparent == f"00-{CALLER_TRACE}-{webhook_call['span_id']}-01"


def call_traced(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    """``call``, with the caller's trace context in the request."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("content-type", "application/json")
    request.add_header("traceparent", CALLER)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())
