"""A tenant's webhook secret rotated with ``notifyctl tenants secret rotate``: a real worker
process signs the tenant's webhooks with both secrets (newest first) until ``retire``, with one
after it, and never with another tenant's or the global secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifyctl.cli import app
from notifyctl.store import open_store
from tests.conftest import make_config
from tests.helpers import Receiver, insert, start_worker, stop, wait_until, webhooks

pytestmark = pytest.mark.integration


def signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks, written from the spec, not from our code."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


def test_a_rotation_signs_with_both_secrets_until_it_is_retired(tmp_path: Path) -> None:
    config = make_config(tmp_path, webhook_secret="global-operator-secret")
    base = ["--data-dir", str(config.data_dir), "tenants", "secret"]
    runner = CliRunner()
    rotated = [runner.invoke(app, [*base, "rotate", "acme"], env={}) for _ in range(2)]
    assert all(r.exit_code == 0 for r in rotated), rotated[0].output
    first, second = (r.stdout.strip() for r in rotated)
    assert first.startswith("whsec_") and second.startswith("whsec_") and first != second
    bad = runner.invoke(app, [*base, "rotate", "Not A Tenant"], env={})
    assert bad.exit_code == 2 and "invalid tenant name" in bad.output
    store = open_store(config)
    with Receiver() as receiver:
        worker = start_worker(config, 1, NOTIFYCTL_WEBHOOK_SECRET="global-operator-secret")
        try:
            acme = replace(webhooks(receiver.url, 1)[0], tenant_id="acme")
            globex = replace(webhooks(receiver.url, 1)[0], tenant_id="globex")
            insert(store, [acme, globex])
            wait_until(lambda: len(receiver.snapshot()) == 2, 60, "both deliveries")
            retired = runner.invoke(app, [*base, "retire", "acme"], env={})
            assert retired.exit_code == 0 and "1 older secret(s) retired" in retired.stdout
        finally:
            stop(worker)
    by_id = {d.webhook_id: d for d in receiver.snapshot()}
    d = by_id[acme.id]
    assert d.signature.split(" ") == [
        signature(second, d.webhook_id, d.timestamp, d.raw),
        signature(first, d.webhook_id, d.timestamp, d.raw),
    ]
    assert by_id[globex.id].signature == ""  # no secret of its own: never another's
    assert store.webhook_secrets("acme") == [second]
    shown = runner.invoke(app, [*base, "show", "acme"], env={})
    assert "1 active signing secret(s)" in shown.stdout and second not in shown.stdout
    store.close()
