"""``notifyctl templates push|list``: the real command line against a real SQLite store. YAML and
TOML files become templates named by their stems; an unchanged one keeps its version; one
invalid file prints every problem (file, field, line) and writes nothing, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from notifyctl.cli import app
from notifyctl.config import Config
from notifyctl.store import open_store
from notifyctl.templates import TemplateRecord
from tests.conftest import make_config

runner = CliRunner()

ORDER_YAML = """\
category: orders
variables: [order_id, name]
channels:
  email:
    subject: "Order {{ order_id }} shipped"
    text: |
      Hi {{ name }},
      your order {{ order_id }} is on its way.
  sms:
    body: "Order {{ order_id }} shipped"
locales:
  de:
    channels:
      sms:
        body: "Bestellung {{ order_id }} versandt"
"""
WELCOME_TOML = """\
variables = ["name"]

[channels.push]
title = "Welcome"
body = "Hello {{ name }}"

[channels.webhook.body]
event = "welcome"
"$who" = "{{ name }}"
"""
ORDER = {
    "category": "orders",
    "variables": ["order_id", "name"],
    "channels": {
        "email": {"subject": "Order {{ order_id }} shipped",
                  "text": "Hi {{ name }},\nyour order {{ order_id }} is on its way.\n"},
        "sms": {"body": "Order {{ order_id }} shipped"},
    },
    "locales": {"de": {"channels": {"sms": {"body": "Bestellung {{ order_id }} versandt"}}}},
}  # fmt: skip


def notifyctl(config: Config, *args: str) -> Any:
    return runner.invoke(app, ["--data-dir", str(config.data_dir), *args])


def push_json(config: Config, directory: Path, *args: str) -> dict[str, str]:
    result = notifyctl(config, "templates", "push", str(directory), *args, "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row["outcome"] for row in json.loads(result.stdout)}


def stored(config: Config, tenant: str = "default") -> dict[str, TemplateRecord]:
    store = open_store(config)
    try:
        return {r.name: r for r in store.list_templates(tenant, 100, None)}
    finally:
        store.close()


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    files = {"order-shipped.yaml": ORDER_YAML, "welcome.toml": WELCOME_TOML,
             "README.md": "not a template", "notes.txt": "ignored"}  # fmt: skip
    return write(tmp_path / "templates", files)


def test_push_creates_each_file_as_a_template_named_by_its_stem(
    config: Config, templates: Path
) -> None:
    assert push_json(config, templates) == {"order-shipped": "created", "welcome": "created"}
    found = stored(config)
    assert found["order-shipped"].document == ORDER
    assert found["welcome"].document["channels"]["webhook"]["body"]["$who"] == "{{ name }}"
    assert found["welcome"].version == 1


def test_a_second_push_replaces_only_what_changed(config: Config, templates: Path) -> None:
    push_json(config, templates)
    (templates / "welcome.toml").write_text(WELCOME_TOML.replace("Welcome", "Hi there"))
    (templates / "signup.yml").write_text('channels: {sms: {body: "Signed up"}}\n')
    outcomes = push_json(config, templates)
    assert outcomes == {"order-shipped": "unchanged", "signup": "created", "welcome": "replaced"}
    found = stored(config)
    assert (found["order-shipped"].version, found["welcome"].version) == (1, 2)


def test_a_dry_run_shows_what_would_change_and_writes_nothing(
    config: Config, templates: Path
) -> None:
    assert push_json(config, templates, "--dry-run") == {
        "order-shipped": "created", "welcome": "created",
    }  # fmt: skip
    assert stored(config) == {}


def test_push_and_list_belong_to_the_named_tenant(config: Config, templates: Path) -> None:
    push_json(config, templates, "--tenant", "acme")
    assert set(stored(config, "acme")) == {"order-shipped", "welcome"}
    assert stored(config) == {}
    listed = notifyctl(config, "templates", "list", "--tenant", "acme", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["version"], r["channels"]) for r in rows] == [
        ("order-shipped", 1, ["email", "sms"]), ("welcome", 1, ["push", "webhook"]),
    ]  # fmt: skip
    assert rows[0]["locales"] == ["de"]
    text = notifyctl(config, "templates", "list", "--tenant", "acme")
    assert text.exit_code == 0 and "order-shipped" in text.stdout
    empty = notifyctl(config, "templates", "list", "--tenant", "globex")
    assert empty.exit_code == 0 and "no templates" in empty.stdout


def test_one_invalid_file_prints_every_problem_and_nothing_is_written(
    config: Config, templates: Path
) -> None:
    write(templates, {
        "broken.yaml": 'variables: [name]\nchannels:\n  sms:\n    body: "Hi\\n{{ name "\n',
        "undeclared.toml": 'variables = []\n[channels.sms]\nbody = """\nHi {{ who }}"""\n',
    })  # fmt: skip
    result = notifyctl(config, "templates", "push", str(templates))
    assert result.exit_code == 2, result.output
    output = result.output
    assert f"{templates / 'broken.yaml'}, channels.sms.body, line 2 of the text:" in output
    assert f"{templates / 'undeclared.toml'}, channels.sms.body, line 1 of the text:" in output
    assert "'who'" in output
    assert "2 of 4 template files are invalid; nothing was written" in output
    assert stored(config) == {}


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({"bad.yaml": "channels: [unclosed\n"}, "bad.yaml, line 2: is not YAML"),
        ({"bad.toml": "channels = \n"}, "bad.toml: is not TOML"),
        ({"when.yaml": "category: 2027-01-15\nchannels: {sms: {body: x}}\n"},
         "when.yaml: holds a value JSON cannot"),
        ({"keys.yaml": "channels: {sms: {body: x}}\n1: one\n"}, "not a string"),
        ({"list.yaml": "- a\n- b\n"}, "list.yaml: a template must be a JSON object"),
        ({"Bad_Name.yaml": "channels: {sms: {body: x}}\n"}, "Bad_Name.yaml, name: invalid"),
        ({"twice.yaml": "channels: {sms: {body: x}}\n",
          "twice.toml": "[channels.sms]\nbody = 'y'\n"}, "names the same template as"),
    ],
)  # fmt: skip
def test_files_that_are_no_template_are_named_and_nothing_is_written(
    config: Config, templates: Path, files: dict[str, str], says: str
) -> None:
    write(templates, files)
    result = notifyctl(config, "templates", "push", str(templates))
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert stored(config) == {}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["push", "{missing}"], "is not a directory"),
        (["push", "{empty}"], "has no *.yaml, *.yml or *.toml files"),
        (["push", "{templates}", "--tenant", "Bad!"], "invalid tenant name"),
        (["list", "--tenant", "Bad!"], "invalid tenant name"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(
    config: Config, templates: Path, tmp_path: Path, args: list[str], says: str
) -> None:
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "templates": templates}
    result = notifyctl(config, "templates", *(a.format(**paths) for a in args))
    assert result.exit_code == 2, result.output
    assert says in result.output
