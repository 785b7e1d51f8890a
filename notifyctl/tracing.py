"""OpenTelemetry traces from intake to delivery (optional: ``pip install 'notifyctl[tracing]'``).

Off unless ``NOTIFYCTL_TRACING=on``, or ``auto`` (the default) with an OTLP endpoint configured
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); ``OTEL_SDK_DISABLED``
turns it off. When off, nothing here is imported and the roles hold ``None``: the hot path pays
one ``is None`` test per request and per delivery.

When on, the SDK reads the standard ``OTEL_*`` variables itself: the exporter's endpoint, headers
and timeout, the sampler (``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``), the batch
processor's limits, the resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``) and the
propagators (``OTEL_PROPAGATORS``). The API makes a span per HTTP request (continuing an incoming
``traceparent``), one for the store insert and one for the broker publish, and stores the
request's ``traceparent`` with the notification; a worker makes a span per delivery attempt,
a child of that stored context, with the channel call inside it, whose context a webhook
carries to the receiver in its own ``traceparent`` header.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

from notifyctl import __version__
from notifyctl.config import Config
from notifyctl.errors import ConfigError
from notifyctl.flow import destination_of
from notifyctl.model import Notification

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

Result = TypeVar("Result")
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
MISSING = (
    "tracing is on (NOTIFYCTL_TRACING or OTEL_EXPORTER_OTLP_ENDPOINT) but OpenTelemetry is not"
    " installed: pip install 'notifyctl[tracing]', or set NOTIFYCTL_TRACING=off"
)


def wanted(config: Config, environ: Mapping[str, str]) -> bool:
    """Whether this process traces: ``on``, or ``auto`` with an OTLP endpoint configured."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if config.tracing != "auto":
        return config.tracing == "on"
    return any(environ.get(name) for name in ENDPOINTS)


def start(
    config: Config,
    role: str,
    environ: Mapping[str, str] = os.environ,
    exporter: SpanExporter | None = None,
) -> Tracing | None:
    """The process's tracing, or None when it is off. ``exporter``: where spans go (tests pass
    an in-memory one; by default OTLP over HTTP, configured by the ``OTEL_EXPORTER_OTLP_*``
    variables)."""
    if exporter is None and not wanted(config, environ):
        return None
    try:
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        return Tracing(role, exporter, environ)
    except ImportError as exc:
        raise ConfigError(MISSING) from exc


def resource_attributes(role: str, environ: Mapping[str, str]) -> dict[str, str]:
    """``service.name`` notifyctl unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES name
    one (given attributes would override theirs), and the process's role."""
    attributes = {"service.version": __version__, "notifyctl.role": role}
    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    if not named:
        attributes["service.name"] = "notifyctl"
    return attributes


class Tracing:
    """One process's tracer provider (its own, not the global one) and the spans notifyctl
    makes."""

    def __init__(self, role: str, exporter: SpanExporter, environ: Mapping[str, str]) -> None:
        from opentelemetry import propagate, trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        resource = Resource.create(resource_attributes(role, environ))
        self.provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("notifyctl", __version__)
        self._kinds = trace.SpanKind
        self._status, self._status_codes = trace.Status, trace.StatusCode
        self._propagate = propagate
        self._w3c = TraceContextTextMapPropagator()  # what is stored is always W3C

    def shutdown(self) -> None:
        """Export what is still buffered; at the end of the process."""
        self.provider.shutdown()

    def flush(self) -> None:
        self.provider.force_flush()

    # -- intake ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def request(self, method: str, headers: Mapping[str, str]) -> Iterator[Span]:
        """The span of one HTTP request, a child of the caller's ``traceparent`` if it sent
        one (the propagators of OTEL_PROPAGATORS read it)."""
        parent = self._propagate.extract(headers)
        kind = self._kinds.SERVER
        with self.tracer.start_as_current_span(method, context=parent, kind=kind) as span:
            span.set_attribute("http.request.method", method)
            yield span

    def span(self, name: str, kind: str = "INTERNAL", **attributes: Any) -> Any:
        """A child of the current span: ``store insert``, ``broker publish``."""
        return self.tracer.start_as_current_span(
            name, kind=self._kinds[kind], attributes=attributes
        )

    def traceparent(self) -> str | None:
        """The current span's W3C context, as stored with a notification; None when there is
        no sampled or unsampled span to continue."""
        carrier: dict[str, str] = {}
        self._w3c.inject(carrier)
        return carrier.get("traceparent")

    # -- delivery ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def attempt(self, notification: Notification) -> Iterator[Span]:
        """The span of one delivery attempt: a child of the context stored with the
        notification (one trace from the POST to the receiver), a root span without one."""
        parent = None
        if notification.traceparent:
            parent = self._w3c.extract({"traceparent": notification.traceparent})
        attributes = attempt_attributes(notification)
        with self.tracer.start_as_current_span(
            "notification deliver", context=parent, kind=self._kinds.CONSUMER,
            attributes=attributes,
        ) as span:  # fmt: skip
            yield span

    def channel_call(self, channel: str) -> Any:
        """The span of the channel's call to the receiver or provider, inside the attempt."""
        return self.tracer.start_as_current_span(f"{channel} send", kind=self._kinds.CLIENT)

    async def deliver(
        self, notification: Notification, channel: str, call: Callable[[], Awaitable[Result]]
    ) -> Result:
        """``call`` (the channel's delivery) inside an attempt span and its channel call span;
        a failed attempt's span says why."""
        with self.attempt(notification) as span:
            with self.channel_call(channel):
                result = await call()
            error = getattr(result, "error", None)
            if error:
                span.set_status(self._status(self._status_codes.ERROR, error))
        return result

    def inject(self, headers: MutableMapping[str, str]) -> None:
        """Add the current span's context to an outgoing request's headers (``traceparent``)."""
        self._propagate.inject(headers)


def attempt_attributes(notification: Notification) -> dict[str, Any]:
    return {
        "notifyctl.notification.id": notification.id,
        "notifyctl.attempt": notification.attempts,
        "notifyctl.channel": notification.channel,
        "notifyctl.destination": destination_of(notification.channel, notification.to),
        "notifyctl.tenant": notification.tenant_id,
    }


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<trace id>-<span id>-<flags>``)."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) >= 4 else None


class TracedRequests:
    """ASGI middleware: a span per HTTP request, named by method and route template once the
    router has matched it (``POST /v1/notifications``), with the response status."""

    def __init__(self, app: Any, tracing: Tracing) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with self.tracing.request(scope["method"], headers) as span:
            status = 500

            async def traced_send(message: Any) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{scope['method']} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
