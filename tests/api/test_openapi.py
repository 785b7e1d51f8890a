"""The OpenAPI document and the served API stay in step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.routing import Route

from notifyctl.api.app import build_app
from notifyctl.api.openapi import document
from notifyctl.store import open_store
from tests.conftest import make_config


def served_routes(app: Any) -> set[tuple[str, str]]:
    starlette = app
    while not hasattr(starlette, "routes"):  # behind the request timer and the guard
        starlette = starlette.app
    pairs = set()
    for route in starlette.routes:
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                pairs.add((route.path, method.lower()))
    return pairs


def test_every_served_route_is_documented_and_every_documented_one_is_served(
    tmp_path: Path,
) -> None:
    app = build_app(make_config(tmp_path), open_store(make_config(tmp_path)))
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    # the console's HTML pages are for browsers, not part of the JSON API (docs/console.md)
    api = {(path, method) for path, method in served_routes(app) if not path.startswith("/console")}
    assert api == documented


KEY = "schemathesis-key"


def make_schema() -> Any:
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="notifyctl-openapi-"))
    config = make_config(directory, rate_limit_per_s=0, api_keys=KEY)
    app = build_app(config, open_store(config))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = make_schema()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@pytest.mark.filterwarnings("ignore")
def test_the_api_answers_as_its_document_says(case: Any) -> None:
    # Rules that span fields (a webhook needs a URL in ``to``; the Idempotency-Key header and
    # the body field must agree; data's size and depth) are not expressible in the schema, so a
    # schema-valid request may rightly get 422: that one check is left out, all others run.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {KEY}"}, excluded_checks=[positive_data_acceptance]
    )
