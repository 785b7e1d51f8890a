"""notifyctl/tracing.py in process, spans caught by OpenTelemetry's InMemorySpanExporter: one trace
from a POST carrying a ``traceparent`` through the store insert to the worker's delivery attempt,
its channel call and the receiver's ``traceparent`` header; off by default; OTEL_* honoured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="tracing is optional: pip install '.[tracing]'")

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from starlette.testclient import TestClient

from notifyctl import tracing
from notifyctl.api.app import build_app
from notifyctl.channels import open_channels
from notifyctl.errors import ConfigError
from notifyctl.store import Store, open_store
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.helpers import Receiver
from tests.worker.running import run_until

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    yield opened
    opened.close()


def traced(exporter: InMemorySpanExporter, role: str) -> tracing.Tracing:
    started = tracing.start(make_config(Path("/nonexistent")), role, {}, exporter)
    assert started is not None
    return started


def by_name(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


def test_one_trace_from_the_post_to_the_receiver(tmp_path: Path, store: Store) -> None:
    exporter = InMemorySpanExporter()
    api_tracing, worker_tracing = traced(exporter, "api"), traced(exporter, "worker")
    config = make_config(tmp_path)
    with Receiver() as receiver, TestClient(build_app(config, store, tracing=api_tracing)) as api:
        body = {"user_id": "u1", "channel": "webhook", "to": receiver.url}
        created = api.post("/v1/notifications", json=body, headers={"traceparent": CALLER})
        assert created.status_code == 201
        stored = store.get(created.json()["id"])
        assert stored is not None and tracing.trace_id_of(stored.traceparent) == CALLER_TRACE
        channels = open_channels(config)
        worker = Worker(config, store, channels, 1, tracing=worker_tracing)
        run_until(worker, lambda w: w.stats.sent == 1)
        delivered = receiver.snapshot()
    api_tracing.flush()
    worker_tracing.flush()
    spans = by_name(exporter.get_finished_spans())
    request, insert = spans["POST /v1/notifications"], spans["store insert"]
    attempt, call = spans["notification deliver"], spans["webhook send"]
    assert {s.context.trace_id for s in (request, insert, attempt, call)} == {int(CALLER_TRACE, 16)}
    assert request.parent is not None and request.parent.span_id == 0x00F067AA0BA902B7
    assert insert.parent is not None and insert.parent.span_id == request.context.span_id
    assert stored.traceparent is not None
    assert attempt.parent is not None and f"{attempt.parent.span_id:016x}" in stored.traceparent
    assert call.parent is not None and call.parent.span_id == attempt.context.span_id
    assert attempt.attributes is not None and attempt.attributes["notifyctl.attempt"] == 1
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 201
    # the receiver can continue the channel call's span
    assert delivered[0].traceparent == f"00-{CALLER_TRACE}-{call.context.span_id:016x}-01"


def test_a_failed_attempt_span_says_why(tmp_path: Path, store: Store) -> None:
    exporter = InMemorySpanExporter()
    worker_tracing = traced(exporter, "worker")
    config = make_config(tmp_path, retry_base_ms=100_000)
    with Receiver(lambda attempt: (503, 0.0)) as receiver:
        api = TestClient(build_app(config, store))  # tracing off: no traceparent stored
        body = {"user_id": "u1", "channel": "webhook", "to": receiver.url}
        assert api.post("/v1/notifications", json=body).status_code == 201
        worker = Worker(config, store, open_channels(config), 1, tracing=worker_tracing)
        run_until(worker, lambda w: w.stats.retried == 1)
    worker_tracing.flush()
    attempt = by_name(exporter.get_finished_spans())["notification deliver"]
    assert attempt.parent is None  # nothing stored to continue: a trace of its own
    assert attempt.status.status_code.name == "ERROR" and "503" in (
        attempt.status.description or ""
    )


@pytest.mark.parametrize(
    ("setting", "environ", "on"),
    [
        ("auto", {}, False),
        ("auto", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ("auto", {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ("on", {}, True),
        ("off", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ("on", {"OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_off_unless_asked_for(
    tmp_path: Path, setting: str, environ: dict[str, str], on: bool
) -> None:
    config = make_config(tmp_path, tracing=setting)
    assert tracing.wanted(config, environ) is on
    started = tracing.start(config, "api", environ)
    assert (started is not None) is on
    if started is not None:
        started.shutdown()


def test_off_means_no_tracing_at_all(tmp_path: Path, store: Store) -> None:
    """The default: the roles hold None, and nothing is stored with the notification."""
    config = make_config(tmp_path)
    assert tracing.start(config, "api", {}) is None
    api = TestClient(build_app(config, store))
    body = {"user_id": "u1", "channel": "log"}
    created = api.post("/v1/notifications", json=body, headers={"traceparent": CALLER})
    stored = store.get(created.json()["id"])
    assert stored is not None and stored.traceparent is None


def test_a_missing_sdk_is_one_line_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*args: Any) -> None:
        raise ImportError("No module named 'opentelemetry'")

    monkeypatch.setattr(tracing, "Tracing", missing)
    with pytest.raises(ConfigError, match=r"pip install 'notifyctl\[tracing\]'"):
        tracing.start(make_config(tmp_path, tracing="on"), "api", {})


def test_the_service_name_is_notifyctl_unless_the_environment_names_one() -> None:
    assert tracing.resource_attributes("api", {})["service.name"] == "notifyctl"
    assert "service.name" not in tracing.resource_attributes("api", {"OTEL_SERVICE_NAME": "x"})
    named = {"OTEL_RESOURCE_ATTRIBUTES": "service.name=notify,team=ops"}
    assert "service.name" not in tracing.resource_attributes("worker", named)
    assert tracing.trace_id_of(CALLER) == CALLER_TRACE and tracing.trace_id_of(None) is None
