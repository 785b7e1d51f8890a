"""docker/docker-compose.postgresql.yml, the PostgreSQL variant, merged over the main file as
``docker compose -f docker-compose.scale.yml -f docker-compose.postgresql.yml`` merges it
(Docker cannot run here): every API and worker on the `postgresql` service's database, with its
password from docker/.env, MongoDB left out, and connections enough for every pool."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from notifyctl import config
from notifyctl.store.mongodb.pool import auto_pool_size
from tests.integration.compose_env import MissingVariable, interpolate, required
from tests.integration.test_deploy import DOCKER
from tests.integration.test_deploy_compose import NOTIFYCTL, SECRETS

PASSWORD = "test-postgresql-password"


def merged(base: Any, override: Any) -> Any:
    """Compose's merge of an override file: mappings merge key by key, other values replace."""
    if isinstance(base, dict) and isinstance(override, dict):
        keys = {**base, **override}
        return {k: merged(base[k], override[k]) if k in base and k in override else keys[k]
                for k in keys}  # fmt: skip
    return override


@pytest.fixture(scope="module")
def variant_raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "docker-compose.postgresql.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def compose(variant_raw: dict[str, Any]) -> dict[str, Any]:
    base = yaml.safe_load((DOCKER / "docker-compose.scale.yml").read_text())
    secrets = {**SECRETS, "POSTGRES_PASSWORD": PASSWORD}
    loaded: dict[str, Any] = interpolate(merged(base, variant_raw), secrets)
    return loaded


def test_every_api_and_worker_uses_the_postgresql_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    database = services["postgresql"]["environment"]
    for name in NOTIFYCTL:
        built = config.load(environ=services[name]["environment"])
        url = urlsplit(built.store_url)
        assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgresql", 5432), name
        assert (url.username, url.password) == (database["POSTGRES_USER"], PASSWORD)
        assert url.path == f"/{database['POSTGRES_DB']}"
        depends = services[name]["depends_on"]
        assert depends["postgresql"] == {"condition": "service_healthy"}
        assert depends["mongodb"]["required"] is False  # its profile is off: no MongoDB runs
        assert depends["rabbitmq"] == {"condition": "service_healthy"}
    assert services["mongodb"]["profiles"] == ["mongodb"]


def test_the_postgresql_service_is_durable_internal_and_healthy(compose: dict[str, Any]) -> None:
    postgresql = compose["services"]["postgresql"]
    assert postgresql["restart"] == "unless-stopped" and "ports" not in postgresql
    assert "pg_isready" in postgresql["healthcheck"]["test"]
    named = [v.split(":")[0] for v in postgresql["volumes"]]
    assert named and set(named) <= set(compose["volumes"])
    assert "synchronous_commit=on" in postgresql["command"]


def test_max_connections_holds_every_process_pool(compose: dict[str, Any]) -> None:
    services = compose["services"]
    built = config.load(environ=services["worker"]["environment"])
    processes = built.num_workers + built.num_api_instances
    pool = auto_pool_size(built.num_workers, built.num_api_instances)
    command = services["postgresql"]["command"]
    setting = next(c for c in command if c.startswith("max_connections="))
    assert int(setting.split("=")[1]) >= processes * pool + 10  # and some for operators


def test_the_variant_refuses_to_start_without_its_password(variant_raw: dict[str, Any]) -> None:
    assert set(required(variant_raw)) == {"POSTGRES_PASSWORD"}
    with pytest.raises(MissingVariable):
        interpolate(variant_raw, {**SECRETS, "POSTGRES_PASSWORD": ""})
