"""The store contract, an email's ``html``: stored as given, on the insert's answer, on a read and
on a claim (what the email channel delivers from), and absent stays absent.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from dataclasses import replace

from notifyctl.store import Store
from tests.store.contract.builders import NOW, WORKER_A, claim_one, current, insert_one, make

HTML = "<p>Your <b>report</b> is ready: <a href='https://example.test/r?a=1&b=2'>open</a> ✓</p>"


def test_html_round_trips_through_insert_get_and_claim(store: Store) -> None:
    item = replace(make(channel="email"), to="ada@example.com", html=HTML)
    inserted = insert_one(store, item)
    assert inserted.html == HTML
    assert current(store, item.id).html == HTML
    assert claim_one(store, WORKER_A, NOW).notification.html == HTML


def test_a_notification_without_html_reads_back_none(store: Store) -> None:
    inserted = insert_one(store, make())
    assert inserted.html is None
    assert current(store, inserted.id).html is None
    assert claim_one(store, WORKER_A, NOW).notification.html is None


def test_a_long_html_is_kept_whole(store: Store) -> None:
    long_html = "<p>" + "x" * 99_990 + "</p>"
    item = replace(make(channel="email"), to="ada@example.com", html=long_html)
    insert_one(store, item)
    assert current(store, item.id).html == long_html
