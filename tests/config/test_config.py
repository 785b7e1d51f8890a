"""Configuration: flag > environment > TOML file > default, and one clear line for a bad value."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifyctl import config
from notifyctl.cli import app
from notifyctl.config import Config
from notifyctl.config.settings import SETTINGS
from notifyctl.errors import ConfigError


def write_toml(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "notifyctl.toml"
    file.write_text(text)
    return file


def load(
    flags: dict[str, object] | None = None,
    environ: dict[str, str] | None = None,
    config_file: Path | None = None,
) -> Config:
    return config.load(flags or {}, environ or {}, config_file)


# --- defaults and precedence -----------------------------------------------------------------


def test_every_setting_has_its_default_when_nothing_is_given() -> None:
    built = load()
    for setting in SETTINGS:
        if setting.name in ("data_dir", "store_url"):
            continue
        assert getattr(built, setting.name) == setting.default, setting.name
    assert built.worker_batch_size == 50
    assert built.lock_duration_ms == 30_000
    assert built.poll_interval_ms == 5_000


def test_default_data_dir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    built = load()
    assert built.data_dir.is_absolute()
    assert built.data_dir == (tmp_path / "notifyctl-data").resolve()


def test_default_store_url_is_sqlite_in_the_absolute_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    built = load({"data_dir": "relative/dir"})
    expected_dir = (tmp_path / "relative" / "dir").resolve()
    assert built.data_dir == expected_dir
    assert built.store_url == f"sqlite:///{expected_dir}/notifyctl.db"


def test_an_explicit_store_url_is_kept_as_given(tmp_path: Path) -> None:
    built = load({"data_dir": str(tmp_path), "store_url": "sqlite:///elsewhere.db"})
    assert built.store_url == "sqlite:///elsewhere.db"


def test_file_overrides_default(tmp_path: Path) -> None:
    file = write_toml(tmp_path, "worker_batch_size = 7\n")
    assert load(config_file=file).worker_batch_size == 7


def test_environment_overrides_file(tmp_path: Path) -> None:
    file = write_toml(tmp_path, "worker_batch_size = 7\n")
    built = load(environ={"WORKER_BATCH_SIZE": "8"}, config_file=file)
    assert built.worker_batch_size == 8


def test_flag_overrides_environment_and_file(tmp_path: Path) -> None:
    file = write_toml(tmp_path, "worker_batch_size = 7\n")
    built = load({"worker_batch_size": 9}, {"WORKER_BATCH_SIZE": "8"}, file)
    assert built.worker_batch_size == 9


def test_a_flag_given_as_none_means_not_given() -> None:
    built = load({"worker_batch_size": None}, {"WORKER_BATCH_SIZE": "8"})
    assert built.worker_batch_size == 8


def test_precedence_is_decided_per_setting(tmp_path: Path) -> None:
    file = write_toml(
        tmp_path, "worker_batch_size = 7\nlock_duration_ms = 1000\npoll_interval_ms = 20\n"
    )
    built = load({"poll_interval_ms": 30}, {"LOCK_DURATION_MS": "2000"}, file)
    assert built.worker_batch_size == 7
    assert built.lock_duration_ms == 2000
    assert built.poll_interval_ms == 30
    assert built.max_attempts == 3


def test_the_specs_environment_names_are_honoured() -> None:
    built = load(
        environ={"WORKER_BATCH_SIZE": "12", "LOCK_DURATION_MS": "45000", "POLL_INTERVAL_MS": "250"}
    )
    assert built.worker_batch_size == 12
    assert built.lock_duration_ms == 45_000
    assert built.poll_interval_ms == 250


def test_notifyctl_environment_names_are_honoured(tmp_path: Path) -> None:
    built = load(
        environ={
            "NOTIFYCTL_DATA_DIR": str(tmp_path),
            "NOTIFYCTL_API_PORT": "8123",
            "NOTIFYCTL_MAX_ATTEMPTS": "9",
            "NOTIFYCTL_WEBHOOK_SECRET": "whsec_abc",
            "NOTIFYCTL_LOG_LEVEL": "DEBUG",
            "NOTIFYCTL_SQLITE_SYNCHRONOUS": "normal",
        }
    )
    assert built.data_dir == tmp_path.resolve()
    assert built.api_port == 8123
    assert built.max_attempts == 9
    assert built.webhook_secret == "whsec_abc"
    assert built.log_level == "debug"
    assert built.sqlite_synchronous == "normal"


def test_config_is_frozen() -> None:
    built = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.worker_batch_size = 1  # type: ignore[misc]


# --- invalid values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "value", "problem"),
    [
        ("WORKER_BATCH_SIZE", "abc", "must be an integer"),
        ("WORKER_BATCH_SIZE", "", "must be an integer"),
        ("WORKER_BATCH_SIZE", "2.5", "must be an integer"),
        ("WORKER_BATCH_SIZE", "0", "between 1 and 1000"),
        ("WORKER_BATCH_SIZE", "1001", "between 1 and 1000"),
        ("LOCK_DURATION_MS", "99", "between 100 and"),
        ("LOCK_DURATION_MS", "-1", "between 100 and"),
        ("POLL_INTERVAL_MS", "soon", "must be an integer"),
        ("NOTIFYCTL_API_PORT", "70000", "between 1 and 65535"),
        ("NOTIFYCTL_LOG_LEVEL", "loud", "must be one of debug, info, warning, error"),
        ("NOTIFYCTL_SQLITE_SYNCHRONOUS", "off", "must be one of full, normal"),
    ],
)
def test_an_invalid_environment_value_names_the_variable_and_the_problem(
    env: str, value: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(environ={env: value})
    message = str(caught.value)
    assert message.startswith(f"{env}:")
    assert problem in message
    assert "\n" not in message


def test_an_invalid_environment_value_quotes_what_was_given() -> None:
    with pytest.raises(ConfigError, match=r"WORKER_BATCH_SIZE: must be an integer, got 'abc'"):
        load(environ={"WORKER_BATCH_SIZE": "abc"})


def test_an_invalid_flag_value_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--log-level: must be one of .*, got 'loud'$"):
        load({"log_level": "loud"})


def test_a_boolean_is_not_an_integer() -> None:
    with pytest.raises(ConfigError, match="--max-attempts: must be an integer"):
        load({"max_attempts": True})


def test_an_invalid_file_value_names_the_key_and_the_file(tmp_path: Path) -> None:
    file = write_toml(tmp_path, 'worker_batch_size = "lots"\n')
    with pytest.raises(ConfigError) as caught:
        load(config_file=file)
    message = str(caught.value)
    assert "worker_batch_size" in message
    assert str(file) in message
    assert "must be an integer" in message


def test_a_string_setting_given_a_number_in_the_file_is_rejected(tmp_path: Path) -> None:
    file = write_toml(tmp_path, "api_host = 127\n")
    with pytest.raises(ConfigError, match="api_host .*must be a string"):
        load(config_file=file)


def test_a_fractional_number_in_the_file_is_not_truncated_to_an_integer(tmp_path: Path) -> None:
    file = write_toml(tmp_path, "worker_batch_size = 2.5\n")
    with pytest.raises(ConfigError, match="worker_batch_size.*must be an integer"):
        load(config_file=file)


def test_an_invalid_value_in_a_lower_layer_is_still_reported_when_nothing_overrides_it(
    tmp_path: Path,
) -> None:
    file = write_toml(tmp_path, "lock_duration_ms = 5\n")
    with pytest.raises(ConfigError, match="lock_duration_ms"):
        load(config_file=file)


def test_an_invalid_file_value_overridden_by_the_environment_is_not_an_error(
    tmp_path: Path,
) -> None:
    file = write_toml(tmp_path, "lock_duration_ms = 5\n")
    assert load(environ={"LOCK_DURATION_MS": "500"}, config_file=file).lock_duration_ms == 500


# --- the config file -------------------------------------------------------------------------


def test_an_unknown_key_in_the_file_is_rejected_naming_the_key(tmp_path: Path) -> None:
    file = write_toml(tmp_path, "worker_batch_size = 5\nbatch_sise = 5\n")
    with pytest.raises(ConfigError) as caught:
        load(config_file=file)
    message = str(caught.value)
    assert "'batch_sise'" in message
    assert "unknown setting" in message
    assert str(file) in message


def test_a_table_in_the_file_is_an_unknown_key(tmp_path: Path) -> None:
    file = write_toml(tmp_path, "[worker]\nbatch_size = 5\n")
    with pytest.raises(ConfigError, match="unknown setting 'worker'"):
        load(config_file=file)


def test_invalid_toml_is_reported_as_such(tmp_path: Path) -> None:
    file = write_toml(tmp_path, "worker_batch_size = = 5\n")
    with pytest.raises(ConfigError) as caught:
        load(config_file=file)
    message = str(caught.value)
    assert message.startswith(f"--config {file}:")
    assert "not valid TOML" in message
    assert "\n" not in message


def test_a_missing_file_cannot_be_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match=r"--config .*missing\.toml: cannot read it"):
        load(config_file=missing)


def test_a_directory_given_as_the_file_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load(config_file=tmp_path)


def test_every_setting_can_come_from_the_file(tmp_path: Path) -> None:
    file = write_toml(
        tmp_path,
        f'data_dir = "{tmp_path}"\n'
        'store_url = "sqlite:///x.db"\n'
        "api_port = 3001\n"
        'log_level = "warning"\n'
        'webhook_secret = "s"\n',
    )
    built = load(config_file=file)
    assert built.data_dir == tmp_path.resolve()
    assert built.store_url == "sqlite:///x.db"
    assert built.api_port == 3001
    assert built.log_level == "warning"
    assert built.webhook_secret == "s"


# --- the store URL and its MONGODB_URI alias ------------------------------------------------

MONGO = "mongodb://db1:27017/notifyctl"


def test_mongodb_uri_alone_selects_the_mongodb_store() -> None:
    assert load(environ={"MONGODB_URI": MONGO}).store_url == MONGO


def test_a_store_url_as_specific_as_mongodb_uri_wins(tmp_path: Path) -> None:
    both = {"MONGODB_URI": MONGO, "NOTIFYCTL_STORE_URL": "sqlite:///x.db"}
    assert load(environ=both).store_url == "sqlite:///x.db"
    assert load({"store_url": "sqlite:///y.db"}, {"MONGODB_URI": MONGO}).store_url == (
        "sqlite:///y.db"
    )
    file = write_toml(tmp_path, f'store_url = "sqlite:///z.db"\nmongodb_uri = "{MONGO}"\n')
    assert load(config_file=file).store_url == "sqlite:///z.db"


def test_mongodb_uri_beats_a_store_url_from_a_lower_layer(tmp_path: Path) -> None:
    file = write_toml(tmp_path, 'store_url = "sqlite:///z.db"\n')
    assert load(environ={"MONGODB_URI": MONGO}, config_file=file).store_url == MONGO


def test_mongodb_uri_must_be_a_mongodb_url() -> None:
    with pytest.raises(ConfigError, match="MONGODB_URI: must start with mongodb://"):
        load(environ={"MONGODB_URI": "postgres://db1/x"})


def test_the_mongodb_settings_have_the_specs_defaults() -> None:
    built = load(environ={"MONGODB_MAX_POOL_SIZE": "40", "NOTIFYCTL_RETENTION_DAYS": "30"})
    assert (built.num_workers, built.num_api_instances) == (5, 2)
    assert (built.mongodb_max_pool_size, built.mongodb_min_pool_size) == (40, 0)
    assert built.retention_days == 30


def test_children_resolve_the_same_store_from_to_environ() -> None:
    original = load(environ={"MONGODB_URI": MONGO, "NUM_WORKERS": "8"})
    assert load(environ=original.to_environ()) == original


# --- handing the config to child processes ---------------------------------------------------


def test_to_environ_names_every_setting_by_its_environment_name() -> None:
    environ = load().to_environ()
    assert set(environ) == {s.env for s in SETTINGS}
    assert all(isinstance(value, str) for value in environ.values())


def test_to_environ_round_trips_through_load_to_an_equal_config(tmp_path: Path) -> None:
    original = load(
        {"data_dir": str(tmp_path / "d"), "worker_batch_size": 17, "log_level": "ERROR"},
        {"LOCK_DURATION_MS": "1234", "NOTIFYCTL_WEBHOOK_SECRET": "whsec_c2VjcmV0"},
    )
    assert load(environ=original.to_environ()) == original


def test_to_environ_round_trips_the_defaults() -> None:
    original = load()
    assert load(environ=original.to_environ()) == original


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner in an empty directory, with no notifyctl setting inherited from the environment."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)
    monkeypatch.chdir(tmp_path)
    yield CliRunner()


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("notifyctl: error:")
    for fragment in fragments:
        assert fragment in lines[0]


def test_cli_exits_2_with_one_line_for_an_invalid_environment_value(cli: CliRunner) -> None:
    result = cli.invoke(app, ["worker", "--id", "1"], env={"WORKER_BATCH_SIZE": "abc"})
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "WORKER_BATCH_SIZE", "must be an integer")
    assert result.stdout == ""


def test_cli_exits_2_with_one_line_for_a_missing_config_file(cli: CliRunner) -> None:
    result = cli.invoke(app, ["--config", "missing.toml", "up"])
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "--config missing.toml", "cannot read it")


def test_cli_exits_2_with_one_line_for_an_unknown_key_in_the_config_file(
    cli: CliRunner, tmp_path: Path
) -> None:
    file = write_toml(tmp_path, "wrokers = 3\n")
    result = cli.invoke(app, ["--config", str(file), "up"])
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "'wrokers'")


def test_cli_exits_2_with_one_line_for_invalid_toml(cli: CliRunner, tmp_path: Path) -> None:
    file = write_toml(tmp_path, "[[[\n")
    result = cli.invoke(app, ["--config", str(file), "worker", "--id", "1"])
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "not valid TOML")


def test_cli_error_for_an_invalid_flag_names_the_flag_as_typed(cli: CliRunner) -> None:
    result = cli.invoke(app, ["worker", "--id", "1", "--batch-size", "0"])
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "--batch-size:", "between 1 and 1000")


def test_cli_exits_2_with_one_line_when_the_store_cannot_be_opened(
    cli: CliRunner, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = cli.invoke(app, ["up", "--data-dir", str(blocker / "data")])
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "cannot open", str(blocker / "data"))
    assert result.stdout == ""


def test_cli_data_dir_before_the_command_is_not_lost_by_up(cli: CliRunner, tmp_path: Path) -> None:
    # Both places are unopenable, so a lost flag fails fast too rather than starting the service.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    given, from_env = blocker / "from-flag", blocker / "from-env"
    result = cli.invoke(
        app, ["--data-dir", str(given), "up"], env={"NOTIFYCTL_DATA_DIR": str(from_env)}
    )
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "cannot open", str(given))


def test_cli_exits_2_with_one_line_when_the_worker_store_cannot_be_opened(
    cli: CliRunner, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = cli.invoke(app, ["--data-dir", str(blocker / "data"), "worker", "--id", "1"])
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "cannot open", str(blocker / "data"))


def test_cli_exits_2_with_one_line_for_an_unusable_mongodb_url(cli: CliRunner) -> None:
    result = cli.invoke(app, ["--store", "mongodb://db1:notaport/x", "worker", "--id", "1"])
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "not a usable MongoDB URL")


def test_cli_explains_a_missing_mongodb_driver(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pymongo", None)  # as if it were not installed
    for module in ("notifyctl.store.mongodb", "notifyctl.store.mongodb.store"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    result = cli.invoke(app, ["--store", "mongodb://db1/x", "worker", "--id", "1"])
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "needs the pymongo driver", "pip install pymongo")


SECRET = "s3cr/et#1"  # a / and a # end urlsplit's host part early: it would not find it


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RABBITMQ_URL", f"amqp//guest:{SECRET}@rabbit:5672/"),
        ("RABBITMQ_URL", f"rabbitmq://guest:{SECRET}@rabbit"),
        ("MONGODB_URI", f"mongo://app:{SECRET}@db1:27017/notifyctl"),
        ("NOTIFYCTL_STORE_URL", f"mysql://app:{SECRET}@db1/notifyctl"),
    ],
)
def test_a_bad_url_is_refused_without_echoing_its_password(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(environ={variable: value})
    message = str(caught.value)
    assert message.startswith(f"{variable}: ") and ":***@" in message
    assert "s3cr" not in message


def test_redacted_hides_what_urlsplit_misses_and_keeps_the_rest() -> None:
    assert config.redacted(f"amqp://guest:{SECRET}@rabbit/") == "amqp://guest:***@rabbit/"
    assert config.redacted("amqp://guest@rabbit/") == "amqp://guest@rabbit/"
    assert config.redacted("mongodb://db1/notifyctl") == "mongodb://db1/notifyctl"
