"""What an operator can pause, in canonical form, and which pause holds a notification back
(``notifyctl/pauses.py``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from notifyctl.errors import ConfigError
from notifyctl.pauses import Pause, PauseKind, Pauses, pause_of
from notifyctl.store.sqlite.schema import stored as as_stored
from tests.store.contract.builders import NOW, make


def test_a_destination_may_be_named_by_any_url_on_it() -> None:
    assert pause_of("destination", "https://Hooks.Example.com/a/b?c=d").value == (
        "https://hooks.example.com:443"
    )
    assert pause_of("destination", "http://10.0.0.1:8080").value == "http://10.0.0.1:8080"
    assert pause_of("destination", " smtp ").value == "smtp"


@pytest.mark.parametrize(
    ("kind", "value", "says"),
    [
        ("queue", "x", "unknown kind"),
        ("channel", "pigeon", "unknown channel"),
        ("channel", "", "1 to 300"),
        ("tenant", "Acme Corp", "invalid tenant name"),
        ("destination", "mailgun", "neither a URL"),
        ("destination", "https://[::1", "not a URL"),
        ("destination", "x" * 301, "1 to 300"),
    ],
)
def test_bad_pauses_say_what_is_wrong(kind: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match="pause: .*" + says):
        pause_of(kind, value)


def test_the_pause_holding_a_notification() -> None:
    hook = as_stored(make(), NOW)
    acme_log = as_stored(replace(make(channel="log"), tenant_id="acme"), NOW)
    pauses = Pauses.of([
        pause_of("destination", "https://example.test/other"),
        Pause(PauseKind.TENANT, "acme"),
    ])  # fmt: skip
    assert len(pauses) == 2
    assert pauses.holding(hook) == Pause(PauseKind.DESTINATION, "https://example.test:443")
    assert pauses.holding(acme_log) == Pause(PauseKind.TENANT, "acme")
    assert pauses.holding(hook, destination="https://elsewhere.test:443") is None
    assert Pauses.of([Pause(PauseKind.CHANNEL, "log")]).holding(hook) is None
    assert not Pauses()
