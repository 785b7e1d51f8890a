"""One stop budget (issue 12, item 14): the parts of a graceful stop sum within what the
supervisor waits, and each part is the bound the code it stands for uses. The deployment files
are checked against it in tests/integration/test_deploy.py and
tests/integration/test_deploy_compose.py."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from notifyctl import lifecycle
from notifyctl.broker.rabbitmq import RabbitBroker
from notifyctl.lifecycle import FINAL_FLUSH_MIN_S, stop_budget
from notifyctl.serving import hypercorn_config
from notifyctl.up.supervisor import Supervisor
from tests.conftest import make_config

BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.mark.parametrize("grace_ms", [0, 1_000, 10_000, 120_000])
@pytest.mark.parametrize("broker", ["none", BROKER])
def test_the_parts_of_a_stop_sum_within_the_budget(
    tmp_path: Path, grace_ms: int, broker: str
) -> None:
    budget = stop_budget(make_config(tmp_path, shutdown_grace_ms=grace_ms, rabbitmq_url=broker))
    parts = budget.grace_s + budget.final_flush_s + budget.broker_join_s + budget.close_s
    assert budget.grace_s == grace_ms / 1000
    assert parts <= budget.worker_s <= budget.wait_s
    assert budget.api_s + budget.close_s <= budget.wait_s < budget.total_s
    assert (budget.broker_join_s > 0) == (broker != "none")


def test_each_part_is_the_bound_its_code_uses(tmp_path: Path) -> None:
    for grace_ms in (0, 10_000):
        budget = stop_budget(make_config(tmp_path, shutdown_grace_ms=grace_ms))
        # Outcomes.flush_at_stop(grace_s) writes for at most max(grace_s, FINAL_FLUSH_MIN_S)
        assert budget.final_flush_s == max(grace_ms / 1000, FINAL_FLUSH_MIN_S)
    joins = re.findall(r"\.join\(([\d.]+)\)", inspect.getsource(RabbitBroker.close))
    assert joins and float(joins[0]) <= lifecycle.BROKER_JOIN_S, "RabbitBroker.close's join"
    assert hypercorn_config("127.0.0.1", 1, 10.0).graceful_timeout <= lifecycle.API_DRAIN_S


def test_the_supervisor_waits_the_whole_budget_before_it_kills(tmp_path: Path) -> None:
    config = make_config(tmp_path, rabbitmq_url=BROKER)
    supervisor = Supervisor(config, workers=2)
    budget = stop_budget(config)
    assert supervisor.stop_wait_s == budget.wait_s
    # with the defaults: 10 s grace + 10 s final flush + 10 s broker join + 5 s close
    assert supervisor.stop_wait_s == 35.0
