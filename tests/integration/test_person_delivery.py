"""Sending to a person end to end (issue 16): the real API takes a send by template, a real worker
process delivers through the real email, APNs, FCM and SMS channels to local servers speaking
each provider's protocol (the fakes of ``test_channel_kills.py``: SMTP, HTTP/2 over TLS, HTTPS
with OAuth, a Twilio-style form API).

Ada has an email address, two APNs devices and one FCM device, and a phone; her preferences
allow only email and push for ``orders``. She must receive exactly one email, one push per live
device and no SMS; the APNs device the provider calls ``Unregistered`` must be gone from her
devices afterwards. Bob has only a phone: his SMS arrives, his email is suppressed at delivery
(no address) and his push at intake (no device). Every text is rendered in the recipient's
locale; nothing arrives twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.channels import offered
from notifyctl.store import open_store
from tests.channels import test_apns, test_fcm, test_sms
from tests.conftest import make_config
from tests.helpers import start_worker, stop, wait_until
from tests.integration.test_channel_kills import (
    ArrivingApns,
    Fake,
    email_provider,
    fcm_provider,
    sms_provider,
    ulid_of_uuid,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

STALE_DEVICE = "f0e1d2c3" * 8
#: texts that name the send and the channel: the fakes record what follows "notification "
TEMPLATE: dict[str, Any] = {
    "category": "orders",
    "variables": ["ref"],
    "channels": {
        "email": {"subject": "Your order", "text": "notification {{ ref }}-email"},
        "push": {"title": "Shipped", "body": "notification {{ ref }}-push"},
        "sms": {"body": "notification {{ ref }}-sms"},
    },
    "locales": {"de": {"channels": {"email": {"subject": "Ihre Bestellung",
                                              "text": "notification {{ ref }}-email-de"}}}},
}  # fmt: skip


@contextmanager
def apns_with_a_stale_device(tmp_path: Path) -> Iterator[Fake]:
    """The APNs fake of the kill test, answering 410 Unregistered for ``STALE_DEVICE``."""
    tmp_path.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = test_apns.write_key(tmp_path / f"AuthKey_{test_apns.KEY_ID}.p8", key)

    def answer(seen: test_apns.Seen) -> tuple[int, str, dict[str, str]]:
        if seen.path.endswith(STALE_DEVICE):
            return 410, "Unregistered", {}
        return 200, "", {}

    apns = ArrivingApns(key.public_key(), answer=answer)
    fake = apns.fake = Fake({}, test_apns.DEVICE, ulid_of_uuid)
    with test_apns.running(apns, tmp_path, 100) as url:
        fake.settings = {
            "apns_key_file": str(key_file), "apns_key_id": test_apns.KEY_ID,
            "apns_team_id": test_apns.TEAM_ID, "apns_topic": test_apns.TOPIC, "apns_url": url,
        }  # fmt: skip
        yield fake


@contextmanager
def providers(tmp_path: Path) -> Iterator[tuple[dict[str, Fake], dict[str, object]]]:
    """The four fakes and the settings pointing a deployment at all of them (one CA file that
    trusts both TLS fakes)."""
    fcm_dir = tmp_path / "fcm"
    fcm_dir.mkdir()
    with ExitStack() as stack:
        fakes = {
            "email": stack.enter_context(email_provider(tmp_path)),
            "apns": stack.enter_context(apns_with_a_stale_device(tmp_path / "apns")),
            "fcm": stack.enter_context(fcm_provider(fcm_dir)),
            "sms": stack.enter_context(sms_provider(tmp_path)),
        }
        ca = tmp_path / "providers-ca.pem"
        ca.write_text((tmp_path / "apns" / "ca.pem").read_text() + (fcm_dir / "ca.pem").read_text())
        settings: dict[str, object] = {}
        for fake in fakes.values():
            settings.update(fake.settings)
        settings["channel_ca_file"] = str(ca)
        yield fakes, settings


def test_a_person_receives_what_their_preferences_allow_once_through_every_real_channel(
    tmp_path: Path,
) -> None:
    with providers(tmp_path) as (fakes, settings):
        config = make_config(tmp_path, **settings)
        assert {"email", "apns", "fcm", "sms"} <= set(offered(config))
        store = open_store(config)
        ada = {
            "email": "ada@example.com", "phone": test_sms.RECIPIENT, "locale": "de-CH",
            "devices": [{"platform": "apns", "token": test_apns.DEVICE},
                        {"platform": "apns", "token": STALE_DEVICE},
                        {"platform": "fcm", "token": test_fcm.DEVICE}],
            "preferences": {"channels": {"orders": ["email", "push"]}},
        }  # fmt: skip
        with TestClient(build_app(config, store)) as client:
            assert client.put("/v1/templates/shipped", json=TEMPLATE).status_code == 201
            assert client.put("/v1/recipients/ada", json=ada).status_code == 201
            bob = {"phone": test_sms.RECIPIENT}
            assert client.put("/v1/recipients/bob", json=bob).status_code == 201
            sends = [{"user_id": user, "template": "shipped", "data": {"ref": user}}
                     for user in ("ada", "bob")]  # fmt: skip
            answer = client.post("/v1/notifications/batch", json={"notifications": sends})
            messages = [result["message"] for result in answer.json()["results"]]
            worker = start_worker(config, 1)
            try:
                wait_until(
                    lambda: all(client.get(f"/v1/messages/{m['message_id']}").json()["status"]
                                != "pending" for m in messages),
                    40, "both messages decided",
                )  # fmt: skip
                reports = [client.get(f"/v1/messages/{m['message_id']}").json() for m in messages]
            finally:
                stop(worker)
        arrived = Counter((channel, a.ref) for channel, fake in fakes.items()
                          for a in fake.snapshot())  # fmt: skip
        assert arrived == Counter({
            ("email", "ada-email-de"): 1, ("apns", "ada-push"): 2, ("fcm", "ada-push"): 1,
            ("sms", "bob-sms"): 1,
        })  # fmt: skip
        ada_report, bob_report = reports
        assert ada_report["counts"] == {"sent": 3, "dead": 1, "suppressed": 1}
        stale = [n for n in ada_report["notifications"] if n["to"] == STALE_DEVICE]
        assert stale[0]["status"] == "dead" and "invalid address" in stale[0]["last_error"]
        assert bob_report["counts"] == {"sent": 1, "suppressed": 2}
        reasons = {n["channel"]: n["last_error"] for n in bob_report["notifications"]}
        assert "no email address" in reasons["email"]
        assert "no push devices" in reasons["push"]
        devices = store.get_recipient("default", "ada")
        store.close()
    assert devices is not None
    assert [d.token for d in devices.devices] == [test_apns.DEVICE, test_fcm.DEVICE]
