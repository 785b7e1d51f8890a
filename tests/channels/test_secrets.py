"""Each tenant's webhooks are signed with its own secrets (both of them during a rotation, as
Standard Webhooks specifies), read from the store through a short cache; the global secret signs
only tenant ``default``'s; a store that cannot answer never makes a webhook go out unsigned."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace

import pytest

from notifyctl.channels.secrets import SecretsUnavailable, SigningSecrets
from notifyctl.channels.webhook import WebhookChannel
from notifyctl.retry import ResultKind
from tests.channels.test_channels import expected_signature, notification, receiver, respond

OLD_KEY, NEW_KEY, GLOBAL_KEY = b"acme's old key", b"acme's new key", b"the operator's key"


def whsec(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


class Secrets:
    """The store's answers, counted; ``fail`` makes the next reads raise."""

    def __init__(self) -> None:
        self.by_tenant = {"acme": [whsec(NEW_KEY), whsec(OLD_KEY)]}
        self.reads = 0
        self.fail = False

    def __call__(self, tenant: str) -> list[str]:
        self.reads += 1
        if self.fail:
            raise OSError("store unavailable")
        return self.by_tenant.get(tenant, [])


def test_during_a_rotation_a_webhook_carries_both_signatures_newest_first() -> None:
    secrets = SigningSecrets(Secrets(), whsec(GLOBAL_KEY))
    channel = WebhookChannel(5_000, secrets)

    async def deliver() -> tuple[str, str, bytes]:
        try:
            async with receiver(respond(200)) as server:
                n = replace(notification(to=server.url), tenant_id="acme")
                assert (await channel.deliver(n)).kind is ResultKind.OK
        finally:
            await channel.aclose()
        (request,) = server.requests
        return (
            request.headers["webhook-signature"],
            request.headers["webhook-timestamp"],
            request.body,
        )

    signature, timestamp, body = asyncio.run(deliver())
    message_id = notification().id
    assert signature.split(" ") == [
        expected_signature(NEW_KEY, message_id, timestamp, body),
        expected_signature(OLD_KEY, message_id, timestamp, body),
    ]


def test_the_global_secret_signs_only_the_default_tenants_webhooks() -> None:
    secrets = SigningSecrets(Secrets(), whsec(GLOBAL_KEY))
    assert asyncio.run(secrets.keys_for("default")) == [GLOBAL_KEY]
    assert asyncio.run(secrets.keys_for("globex")) == []  # its own, or none: never another's
    assert asyncio.run(secrets.keys_for("acme")) == [NEW_KEY, OLD_KEY]


def test_secrets_are_read_once_per_ttl_and_a_rotation_is_seen_after_it() -> None:
    store, now = Secrets(), [0.0]
    secrets = SigningSecrets(store, ttl_s=10.0, clock=lambda: now[0])

    async def keys() -> list[bytes]:
        return await secrets.keys_for("acme")

    for _ in range(5):
        assert asyncio.run(keys()) == [NEW_KEY, OLD_KEY]
    assert store.reads == 1
    store.by_tenant["acme"] = [whsec(b"newer")]
    now[0] = 10.5
    assert asyncio.run(keys()) == [b"newer"]
    assert store.reads == 2


def test_a_failing_store_keeps_the_last_keys_and_with_none_known_the_delivery_retries() -> None:
    store, now = Secrets(), [0.0]
    secrets = SigningSecrets(store, ttl_s=1.0, clock=lambda: now[0])
    assert asyncio.run(secrets.keys_for("acme")) == [NEW_KEY, OLD_KEY]
    store.fail, now[0] = True, 5.0
    assert asyncio.run(secrets.keys_for("acme")) == [NEW_KEY, OLD_KEY]
    with pytest.raises(SecretsUnavailable):
        asyncio.run(secrets.keys_for("globex"))
    channel = WebhookChannel(5_000, secrets)
    n = replace(notification(to="http://127.0.0.1:9/hook"), tenant_id="globex")
    result = asyncio.run(channel.deliver(n))
    assert result.kind is ResultKind.RETRYABLE and "signing secrets" in (result.error or "")
    assert "store unavailable" in (result.error or "")
