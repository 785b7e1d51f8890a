"""The store contract, each tenant's templates: a put creates then replaces (the version counts
each replace), a get returns the document exactly as put, a delete removes it, the listing pages
by name, the batch load finds many in one call, and no tenant ever sees another's.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from notifyctl.store import Store
from notifyctl.templates import TemplateRecord
from tests.store.conftest import open_adapter
from tests.store.contract.builders import NOW


def document(text: str = "Order {{ order_id }} shipped") -> dict[str, Any]:
    # keys BSON restricts, non-ASCII text and big integers: stored and read back exactly
    webhook = {"$event": "shipped", "a.b": [1, 2.5, None, True], "big": 2**70, "note": "Grüße"}
    return {"variables": ["order_id"], "channels": {"sms": {"body": text},
                                                    "webhook": {"body": webhook}}}  # fmt: skip


def test_a_put_creates_and_a_get_returns_it_exactly(store: Store) -> None:
    assert store.put_template("acme", "order-shipped", document(), NOW) is True
    assert store.get_template("acme", "order-shipped") == TemplateRecord(
        tenant="acme", name="order-shipped", document=document(), version=1,
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def test_an_unknown_template_is_none(store: Store) -> None:
    assert store.get_template("acme", "nothing") is None


def test_each_replace_bumps_the_version_and_keeps_the_creation_time(store: Store) -> None:
    store.put_template("acme", "order-shipped", document(), NOW)
    assert store.put_template("acme", "order-shipped", document("v2"), NOW + 5) is False
    assert store.put_template("acme", "order-shipped", document("v3"), NOW + 9) is False
    found = store.get_template("acme", "order-shipped")
    assert found is not None
    assert (found.version, found.created_at, found.updated_at) == (3, NOW, NOW + 9)
    assert found.document == document("v3")


def test_a_delete_removes_it_and_a_new_one_starts_again(store: Store) -> None:
    store.put_template("acme", "order-shipped", document(), NOW)
    store.put_template("acme", "order-shipped", document(), NOW + 1)
    assert store.delete_template("acme", "order-shipped") is True
    assert store.delete_template("acme", "order-shipped") is False
    assert store.get_template("acme", "order-shipped") is None
    assert store.put_template("acme", "order-shipped", document(), NOW + 7) is True
    again = store.get_template("acme", "order-shipped")
    assert again is not None and (again.version, again.created_at) == (1, NOW + 7)


def test_the_listing_pages_by_name_after_the_cursor(store: Store) -> None:
    names = ["b-two", "a-one", "c.three", "c_four", "d5"]
    for name in names:
        store.put_template("acme", name, document(), NOW)
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_templates("acme", 2, cursor)
        seen += [record.name for record in page]
        if len(page) < 2:
            break
        cursor = page[-1].name
    assert seen == sorted(names)
    assert store.list_templates("acme", 10, "c_four") == [store.get_template("acme", "d5")]
    assert store.list_templates("acme", 10, "z") == []


def test_the_batch_load_finds_the_named_ones_in_one_call(store: Store) -> None:
    for name in ("a", "b", "c"):
        store.put_template("acme", name, document(name), NOW)
    found = store.templates_by_names("acme", ["c", "a", "missing", "a"])
    assert found == {
        "a": store.get_template("acme", "a"), "c": store.get_template("acme", "c"),
    }  # fmt: skip
    assert store.templates_by_names("acme", []) == {}


def test_tenants_never_see_each_others_templates(store: Store) -> None:
    store.put_template("acme", "welcome", document("acme's"), NOW)
    assert store.put_template("globex", "welcome", document("globex's"), NOW + 1) is True
    store.put_template("globex", "only-globex", document(), NOW)
    acme = store.get_template("acme", "welcome")
    assert acme is not None and acme.document == document("acme's") and acme.version == 1
    assert store.get_template("acme", "only-globex") is None
    assert store.delete_template("acme", "only-globex") is False
    assert [r.name for r in store.list_templates("acme", 10, None)] == ["welcome"]
    assert set(store.templates_by_names("acme", ["welcome", "only-globex"])) == {"welcome"}
    assert store.templates_by_names("globex", ["welcome"])["welcome"].tenant == "globex"
    assert store.get_template("globex", "only-globex") is not None


def test_concurrent_puts_create_once_and_count_every_replace(
    request: pytest.FixtureRequest, adapter: str, tmp_path: Path, store: Store
) -> None:
    # API processes and `templates push` runs, each with a store of its own, racing on one name
    stores = [open_adapter(request, adapter, tmp_path) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            created = list(pool.map(
                lambda i: stores[i % 4].put_template("acme", "race", document(), NOW + i),
                range(20),
            ))  # fmt: skip
    finally:
        for opened in stores:
            opened.close()
    found = store.get_template("acme", "race")
    assert created.count(True) == 1
    assert found is not None and found.version == 20
