"""docker/docker-compose.scale.yml as shipped, parsed (Docker cannot run here): the spec's
services, and no open doors (issue 12, item 13): no default passwords (compose refuses to start
until docker/.env gives them), Prometheus and the workers' monitoring on the internal network
only, API keys required, MongoDB a single-node replica set with authentication."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from notifyctl import config
from notifyctl.exposure import has_api_keys
from notifyctl.lifecycle import stop_budget
from tests.integration.compose_env import (
    MissingVariable,
    interpolate,
    required,
    strings,
    syntax_errors,
)
from tests.integration.test_deploy import DOCKER, seconds

#: the spec's environment variables for the API and the workers (its "Configuration Reference").
#: REDIS_URL and REDIS_MAX_MEMORY are left out: notifyctl has no Redis (DESIGN.md, Backends).
SPEC_VARIABLES = {
    "NUM_WORKERS", "NUM_API_INSTANCES", "WORKER_BATCH_SIZE", "LOCK_DURATION_MS",
    "POLL_INTERVAL_MS", "PREFETCH_COUNT", "MONGODB_URI", "MONGODB_MAX_POOL_SIZE",
    "MONGODB_MIN_POOL_SIZE", "RABBITMQ_URL", "RABBITMQ_CONSUMER_GROUP",
}  # fmt: skip
WORKERS = {f"worker-{n}": n for n in range(1, 6)}
NOTIFYCTL = ("api-1", "api-2", *WORKERS, "worker")
#: what the user puts in docker/.env, each a value no file in the repository holds
SECRETS = {
    "NOTIFYCTL_API_KEYS": "test-api-key-0123456789abcdef",
    "MONGODB_ROOT_PASSWORD": "test-mongodb-root-password",
    "MONGODB_PASSWORD": "test-mongodb-password",
    "RABBITMQ_PASSWORD": "test-rabbitmq-password",
    "GRAFANA_ADMIN_PASSWORD": "test-grafana-password",
}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The file as written, before interpolation."""
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "docker-compose.scale.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    """The file as compose runs it with a docker/.env that gives every secret."""
    loaded: dict[str, Any] = interpolate(raw, SECRETS)
    return loaded


def env_example() -> dict[str, str]:
    lines = (DOCKER / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): value.strip() for name, value in pairs}


def test_every_interpolation_is_valid_compose_syntax(raw: dict[str, Any]) -> None:
    problems = [(where, syntax_errors(text)) for where, text in strings(raw)]
    assert [p for p in problems if p[1]] == []


def test_compose_refuses_to_start_without_each_secret(raw: dict[str, Any]) -> None:
    assert set(required(raw)) == set(SECRETS)
    for name in SECRETS:
        for missing in ({k: v for k, v in SECRETS.items() if k != name}, {**SECRETS, name: ""}):
            with pytest.raises(MissingVariable) as refused:
                interpolate(raw, missing)
            assert refused.value.name == name
    assert all("docker/.env" in message for message in required(raw).values())


def test_the_env_example_names_every_secret_and_holds_none(raw: dict[str, Any]) -> None:
    example = env_example()
    variant = yaml.safe_load((DOCKER / "docker-compose.postgresql.yml").read_text())
    assert set(example) == set(required(raw)) | set(required(variant))
    assert all(value == "" for value in example.values()), "placeholders, not passwords"
    assert "docker/.env" in (DOCKER.parent / ".gitignore").read_text().splitlines()


def test_no_password_or_key_has_a_value_in_the_file(raw: dict[str, Any]) -> None:
    secret_names = re.compile(r"PASS|SECRET|^NOTIFYCTL_API_KEYS$")
    for where, text in strings(raw):
        if secret_names.search(where.rsplit(".", 1)[-1]):
            assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", text), f"{where} = {text!r}"
    for where, text in strings(interpolate(raw, SECRETS)):
        for url in re.findall(r"\w+://[^\s\"']+", text):
            password = urlsplit(url).password
            assert password is None or password in SECRETS.values(), (where, url)


def test_the_services_and_ports_the_spec_names_the_monitoring_internal(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    expected = {"nginx", "api-1", "api-2", *WORKERS, "worker", "mongodb", "rabbitmq",
                "prometheus", "grafana"}  # fmt: skip
    assert expected <= set(services)
    for name, n in WORKERS.items():
        assert services[name]["command"] == ["worker", "--id", str(n)]
        assert services[name]["expose"] == [str(9090 + n)]
        assert services[name]["environment"]["HEALTHCHECK_URL"].endswith(f":{9090 + n}/health")
    assert services["worker"]["expose"] == ["9190"]
    assert all(services[name]["profiles"] == ["named-workers"] for name in WORKERS)
    assert services["prometheus"]["expose"] == ["9090"]
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert published == {
        "nginx": ["80:80"], "grafana": ["3000:3000"], "rabbitmq": ["127.0.0.1:15672:15672"],
    }  # fmt: skip
    assert "management" in services["rabbitmq"]["image"]


def test_the_apis_require_keys(compose: dict[str, Any]) -> None:
    for name in ("api-1", "api-2"):
        built = config.load(environ=compose["services"][name]["environment"])
        assert built.require_api_keys and has_api_keys(built)
        assert built.api_keys == SECRETS["NOTIFYCTL_API_KEYS"]


def test_mongodb_is_a_single_node_replica_set_with_authentication(
    raw: dict[str, Any], compose: dict[str, Any]
) -> None:
    mongodb = compose["services"]["mongodb"]
    command = mongodb["command"]
    replica_set = command[command.index("--replSet") + 1]
    assert command[command.index("--keyFile") + 1] in " ".join(mongodb["entrypoint"])
    assert mongodb["environment"]["MONGO_INITDB_ROOT_PASSWORD"] == SECRETS["MONGODB_ROOT_PASSWORD"]
    health = " ".join(mongodb["healthcheck"]["test"])
    assert "-u admin" in health and "$MONGO_INITDB_ROOT_PASSWORD" in health
    url = urlsplit(compose["services"]["worker-1"]["environment"]["MONGODB_URI"])
    options = parse_qs(url.query)
    assert options["replicaSet"] == [replica_set] and options["authSource"] == ["admin"]
    assert f"_id: '{replica_set}'" in health and f"host: '{url.netloc.split('@')[1]}'" in health
    assert (url.username, url.password) == ("notifyctl", SECRETS["MONGODB_PASSWORD"])
    script = [v for v in raw["services"]["mongodb"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    created = (DOCKER / script[0].split(":")[0]).read_text()
    assert 'user: "notifyctl"' in created and "process.env.NOTIFYCTL_MONGODB_PASSWORD" in created
    assert f'db: "{url.path.strip("/")}"' in created
    assert mongodb["environment"]["NOTIFYCTL_MONGODB_PASSWORD"] == url.password


def test_the_apis_and_workers_get_the_spec_variables_and_the_stop_budget(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    nginx_address = services["nginx"]["networks"]["backend"]["ipv4_address"]
    for name in NOTIFYCTL:
        environment = services[name]["environment"]
        assert set(environment) >= SPEC_VARIABLES, (name, SPEC_VARIABLES - set(environment))
        built = config.load(environ=environment)
        assert built.worker_batch_size == 50 and built.rabbitmq_url.startswith("amqp://")
        assert built.store_url == environment["MONGODB_URI"]
        assert seconds(services[name]["stop_grace_period"]) >= stop_budget(built).total_s, name
    for name in ("api-1", "api-2"):
        environment = services[name]["environment"]
        assert services[name]["command"] == ["api"]
        assert environment["NOTIFYCTL_API_PORT"] == "3000"
        assert environment["HEALTHCHECK_URL"] == "http://127.0.0.1:3000/health"
        assert environment["NOTIFYCTL_TRUSTED_PROXIES"] == nginx_address
    assert "PROMETHEUS_SCRAPE_INTERVAL" in services["prometheus"]["environment"]


def test_compose_has_health_checks_conditions_restarts_and_volumes(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert "healthcheck" in service, name
    assert services["nginx"]["depends_on"] == {
        "api-1": {"condition": "service_healthy"}, "api-2": {"condition": "service_healthy"},
    }  # fmt: skip
    for name in NOTIFYCTL:
        conditions = {k: v["condition"] for k, v in services[name]["depends_on"].items()}
        assert conditions == {"mongodb": "service_healthy", "rabbitmq": "service_healthy"}
    for name in ("mongodb", "rabbitmq", "prometheus", "grafana"):
        named = [v.split(":")[0] for v in services[name]["volumes"] if not v.startswith(".")]
        assert named and set(named) <= set(compose["volumes"]), name
        mounted = [v.split(":")[0] for v in services[name]["volumes"] if v.startswith(".")]
        assert all((DOCKER / path).exists() for path in mounted), name
    build = services["api-1"]["build"]
    assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"


def test_nginx_upstreams_are_the_compose_api_services(compose: dict[str, Any]) -> None:
    conf = (DOCKER / "nginx.conf").read_text()
    upstreams = re.findall(r"^\s*server\s+([\w.-]+):(\d+)\s+max_fails=3 fail_timeout=30s;", conf,
                           re.MULTILINE)  # fmt: skip
    apis = {n for n, s in compose["services"].items() if s.get("command") == ["api"]}
    assert upstreams == [(name, "3000") for name in sorted(apis)]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in compose["services"]["nginx"]["volumes"]


def test_the_prometheus_targets_are_the_internal_monitoring_ports(compose: dict[str, Any]) -> None:
    scrape = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    workers = next(job for job in scrape["scrape_configs"] if job["job_name"] == "workers")
    targets = {sd["names"][0]: sd["port"] for sd in workers["dns_sd_configs"]}
    services = compose["services"]
    assert targets == {name: int(services[name]["expose"][0]) for name in [*WORKERS, "worker"]}


@pytest.mark.parametrize(
    ("text", "errors", "value"),
    [("plain", 0, "plain"), ("$$HOME and $$@", 0, "$HOME and $@"), ("${A:-x}", 0, "x"),
     ("${B:-x}", 0, "b"), ("${E:-x}", 0, "x"), ("${E-x}", 0, ""), ("${B:+y}", 0, "y"),
     ("$B/${B}", 0, "b/b"), ("a $ b", 1, None), ("${B", 1, None), ("${1B}", 1, None),
     ("${B:*x}", 1, None), ("${B:-${A}}", 1, None)],
)  # fmt: skip
def test_the_interpolation_checker_knows_compose_syntax(
    text: str, errors: int, value: str | None
) -> None:
    assert len(syntax_errors(text)) == errors
    if value is not None:
        assert interpolate(text, {"B": "b", "E": ""}) == value
    with pytest.raises(MissingVariable):
        interpolate("${E:?give E}", {"E": ""})
    assert interpolate("${E?give E}", {"E": ""}) == ""


def workers_running(
    compose: dict[str, Any], scale: dict[str, int], profiles: frozenset[str] = frozenset()
) -> int:
    """How many worker containers ``docker compose [--profile P] up [--scale S=N]`` starts: a
    service runs when it has no profile or an enabled one, ``--scale`` overriding its replicas."""
    total = 0
    for name, service in compose["services"].items():
        if service.get("command", [""])[0] != "worker":
            continue
        if service.get("profiles") and not set(service["profiles"]) & profiles:
            continue
        total += scale.get(name, int(service.get("deploy", {}).get("replicas", 1)))
    return total


def test_scale_worker_3_runs_three_workers_as_the_spec_says(raw: dict[str, Any]) -> None:
    compose = interpolate(raw, SECRETS)
    assert workers_running(compose, {"worker": 3}) == 3
    assert workers_running(compose, {}) == 5  # NUM_WORKERS, the spec's default
    assert workers_running(interpolate(raw, {**SECRETS, "NUM_WORKERS": "8"}), {}) == 8
    numbered = frozenset({"named-workers"})
    assert workers_running(compose, {"worker": 0}, numbered) == len(WORKERS)


def test_prometheus_scrapes_at_prometheus_scrape_interval(raw: dict[str, Any]) -> None:
    """The variable is passed to the container, and its command writes it into the config."""
    prometheus = interpolate(raw, {**SECRETS, "PROMETHEUS_SCRAPE_INTERVAL": "30s"})
    prometheus = prometheus["services"]["prometheus"]
    assert prometheus["environment"]["PROMETHEUS_SCRAPE_INTERVAL"] == "30s"
    assert prometheus["entrypoint"] == ["/bin/sh", "-c"]
    # compose turned $$ into $: the container's shell expands the variable
    assert "${PROMETHEUS_SCRAPE_INTERVAL}" in prometheus["command"][0]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"] if v[0] == "."}
    assert mounted["/etc/prometheus/alerts.yml"] == "./prometheus/alerts.yml"
    assert mounted["/etc/prometheus/prometheus.yml"] == "./prometheus/prometheus.yml"
