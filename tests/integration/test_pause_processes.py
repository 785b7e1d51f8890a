"""Pause and resume with worker processes (issue 17 item 4): two real workers deliver to two
receivers; an operator pauses one receiver's destination with the real command while its
backlog drains. Within a few seconds no worker delivers to it any more (what arrives for it
meanwhile is parked, the other receiver is served as before); after `notifyctl resume` every
notification reaches its receiver exactly once, and none is lost, dead or left paused."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from notifyctl.config import Config
from notifyctl.model import Status, now_ms
from notifyctl.pauses import pause_of
from notifyctl.store import open_store
from tests.conftest import make_config
from tests.helpers import Receiver, child_env, insert, start_worker, stop, wait_until, webhooks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

FIRST, MORE = 150, 30
#: how long the workers may take to see the pause (they read it every second)
SETTLE_S = 4.0


def operator(config: Config, *args: str) -> str:
    argv = [sys.executable, "-m", "notifyctl", "--data-dir", str(config.data_dir), *args]
    done = subprocess.run(argv, env=child_env(config), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_paused_destination_waits_and_gets_everything_once_after_resume(tmp_path: Path) -> None:
    config = make_config(tmp_path, worker_concurrency=4, destination_concurrency=4)
    store = open_store(config)
    with Receiver(lambda attempt: (200, 0.1)) as held, Receiver() as other:
        paused = pause_of("destination", held.url)
        insert(store, webhooks(held.url, FIRST))
        workers = [start_worker(config, 1), start_worker(config, 2)]
        try:
            wait_until(lambda: len(held.counts()) >= 8, 60, "the first deliveries")
            assert "paused destination" in operator(
                config, "pause", "--destination", held.url, "--reason", "test"
            )
            time.sleep(SETTLE_S)
            before = len(held.snapshot())
            insert(store, webhooks(held.url, MORE))
            insert(store, webhooks(other.url, MORE))
            wait_until(lambda: len(other.counts()) == MORE, 60, "the other receiver served")
            waiting = FIRST + MORE - before
            wait_until(lambda: store.count_paused(paused) == waiting, 30, "the rest parked")
            time.sleep(1.0)
            assert len(held.snapshot()) == before  # nothing to the paused destination
            assert before < FIRST  # the pause came while its backlog drained
            assert "due again" in operator(config, "resume", "--destination", held.url)
            wait_until(lambda: len(held.counts()) == FIRST + MORE, 60, "all delivered")
            wait_until(lambda: store.counts(now_ms())["locked"] == 0, 30, "outcomes written")
        finally:
            for worker in workers:
                stop(worker)
        assert set(held.counts().values()) == {1} and set(other.counts().values()) == {1}
    counts = store.counts(now_ms())
    assert counts[Status.SENT.value] == FIRST + 2 * MORE
    assert counts[Status.PAUSED.value] == 0 and counts[Status.DEAD.value] == 0
    assert store.pauses() == []
    store.close()
