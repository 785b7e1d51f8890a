"""The SSRF guard at delivery time: what a name resolves to is checked on every connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from notifyctl.channels.destinations import DestinationPolicy
from notifyctl.channels.webhook import WebhookChannel
from notifyctl.model import Status, now_ms
from notifyctl.retry import ResultKind
from notifyctl.store import open_store
from tests.conftest import make_config
from tests.helpers import Receiver, insert, start_worker, stop, wait_until, webhooks


def deliver(policy: DestinationPolicy, url: str) -> tuple[ResultKind, str | None]:
    (item,) = webhooks(url, 1)
    from notifyctl.store.sqlite.schema import stored

    notification = stored(item, now_ms())

    async def once() -> tuple[ResultKind, str | None]:
        channel = WebhookChannel(2_000, policy=policy)
        try:
            result = await channel.deliver(notification)
        finally:
            await channel.aclose()
        return result.kind, result.error

    return asyncio.run(once())


def test_a_name_resolving_to_loopback_is_refused_when_delivering() -> None:
    with Receiver() as receiver:
        kind, error = deliver(DestinationPolicy(), f"http://localhost:{receiver.port}/hook")
        assert kind is ResultKind.PERMANENT
        assert error is not None and "forbidden destination" in error and "loopback" in error
        assert receiver.counts() == {}


def test_an_address_literal_is_refused_when_delivering() -> None:
    with Receiver() as receiver:
        kind, error = deliver(DestinationPolicy(), receiver.url)  # http://127.0.0.1:port
        assert kind is ResultKind.PERMANENT and error is not None and "loopback" in error
        assert receiver.counts() == {}


def test_allowed_networks_and_names_are_delivered() -> None:
    with Receiver() as receiver:
        by_network = DestinationPolicy.from_config("127.0.0.0/8,::1")
        assert deliver(by_network, f"http://localhost:{receiver.port}/hook")[0] is ResultKind.OK
        by_name = DestinationPolicy.from_config("localhost")
        assert deliver(by_name, f"http://localhost:{receiver.port}/hook")[0] is ResultKind.OK
        assert sum(receiver.counts().values()) == 2


@pytest.mark.integration
def test_a_worker_refuses_a_destination_that_now_resolves_to_a_forbidden_address(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, webhook_allow="")
    store = open_store(config)
    with Receiver() as receiver:
        # Accepted earlier (written straight to the store, as if DNS had pointed elsewhere).
        (notification_id,) = insert(store, webhooks(f"http://localhost:{receiver.port}/h", 1))
        worker = start_worker(config, 1)
        try:
            wait_until(lambda: store.get(notification_id).status is Status.DEAD, 30, "dead")  # type: ignore[union-attr]
        finally:
            stop(worker)
        assert receiver.counts() == {}
    found = store.get(notification_id)
    assert found is not None and found.last_error is not None
    assert "forbidden destination" in found.last_error
