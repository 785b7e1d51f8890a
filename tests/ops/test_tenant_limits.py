"""``notifyctl tenants limits``: the real command line against a real SQLite store (the app
applying what it sets: tests/api/test_tenant_limits.py); bad input is one line, exit 2, and
nothing changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from notifyctl.cli import app
from notifyctl.config import Config
from notifyctl.limits import TenantLimits, quota_day
from notifyctl.model import now_ms
from notifyctl.store import open_store
from tests.conftest import make_config

runner = CliRunner()


def notifyctl(config: Config, *args: str) -> Any:
    return runner.invoke(app, ["--data-dir", str(config.data_dir), *args])


def limits_json(config: Config, *args: str) -> list[dict[str, Any]]:
    result = notifyctl(config, "tenants", "limits", *args, "--json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def stored(config: Config, tenant: str) -> TenantLimits | None:
    store = open_store(config)
    try:
        return store.tenant_limits(tenant)
    finally:
        store.close()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def test_set_changes_only_the_limits_it_names(config: Config) -> None:
    (row,) = limits_json(config, "set", "acme", "--rate", "2.5", "--daily-quota", "1000")
    assert (row["tenant"], row["rate_per_s"], row["burst"], row["daily_quota"]) == (
        "acme", 2.5, None, 1000,
    )  # fmt: skip
    limits_json(config, "set", "acme", "--burst", "40")
    assert stored(config, "acme") == TenantLimits("acme", 2.5, 40, 1000)
    limits_json(config, "set", "acme", "--rate", "none", "--daily-quota", "NONE")
    assert stored(config, "acme") == TenantLimits("acme", None, 40, None)


def test_removing_every_limit_leaves_the_tenant_without_any(config: Config) -> None:
    limits_json(config, "set", "acme", "--daily-quota", "5")
    limits_json(config, "set", "acme", "--daily-quota", "none")
    assert stored(config, "acme") is None
    assert limits_json(config, "show") == []


def test_show_lists_each_tenant_with_todays_usage(config: Config) -> None:
    limits_json(config, "set", "globex", "--daily-quota", "3")
    limits_json(config, "set", "acme", "--rate", "10")
    store = open_store(config)
    try:  # as the API counts a send of two (tests/api/test_tenant_limits.py sends for real)
        store.take_quota("globex", quota_day(now_ms()), 2, 3)
    finally:
        store.close()
    rows = limits_json(config, "show")
    assert [(r["tenant"], r["used_today"]) for r in rows] == [("acme", 0), ("globex", 2)]
    (one,) = limits_json(config, "show", "nobody")  # a tenant without limits: shown as such
    assert (one["rate_per_s"], one["daily_quota"], one["used_today"]) == (None, None, 0)
    text = notifyctl(config, "tenants", "limits", "show")
    assert text.exit_code == 0 and "globex" in text.stdout and "default" in text.stdout


def test_clear_removes_a_tenants_limits(config: Config) -> None:
    limits_json(config, "set", "acme", "--rate", "10")
    cleared = notifyctl(config, "tenants", "limits", "clear", "acme")
    assert cleared.exit_code == 0 and "removed" in cleared.stdout
    again = notifyctl(config, "tenants", "limits", "clear", "acme")
    assert again.exit_code == 0 and "no limits" in again.stdout
    assert stored(config, "acme") is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["set", "acme", "--rate", "0"], "rate must be above 0"),
        (["set", "acme", "--rate", "fast"], "--rate must be a number"),
        (["set", "acme", "--rate", "nan"], "finite"),
        (["set", "acme", "--burst", "1.5"], "--burst must be a whole number"),
        (["set", "acme", "--daily-quota", "-1"], "daily quota must be 1 to"),
        (["set", "acme"], "name a limit"),
        (["set", "Acme!", "--rate", "1"], "invalid tenant name"),
        (["show", "Bad"], "invalid tenant name"),
        (["clear", "a" * 64], "invalid tenant name"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(config: Config, args: list[str], says: str) -> None:
    limits_json(config, "set", "acme", "--rate", "10")
    result = notifyctl(config, "tenants", "limits", *args)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert stored(config, "acme") == TenantLimits("acme", 10.0)  # nothing changed
