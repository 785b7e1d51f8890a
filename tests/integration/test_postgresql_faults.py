"""The PostgreSQL store under faults, on a private server the test builds and removes itself.

Issue 18 item 5. An API and two workers run as processes while a loadgen-like sender posts
webhook notifications with idempotency keys (``tests/fault_load.py``); mid-run, every notifyctl
connection is terminated, or the server restarts, or the primary stops and its synchronous
standby is promoted (a multi-host URL). Afterwards, checked through the receiver and the store:

* the API never answered 201 for what was not committed: every id it gave is in the store,
  and every key made one notification (the retries of a client that got no answer included);
* every accepted notification is delivered, and the workers (alive throughout) stopped cleanly:
  they reconnected by themselves;
* a notification delivered twice was one in flight at the fault (terminate, restart).

Every wait has a deadline; timings are printed, never asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from notifyctl.store import open_store
from tests.conftest import make_config
from tests.fault_load import Sender, ServiceProcesses
from tests.helpers import Receiver, wait_until
from tests.postgres_cluster import Cluster, Clusters, require_server_tools

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

LEASE_MS = 5_000
RATE = 150  # notifications a second: enough to have requests and deliveries in flight
DOWN_S = 4.0  # how long the restarted server stays down
BEFORE, AFTER = 300, 300  # deliveries seen before the fault, notifications created after it
TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE application_name = 'notifyctl' AND pid <> pg_backend_pid()"
)


@pytest.fixture
def clusters() -> Iterator[Clusters]:
    group = Clusters(require_server_tools())
    try:
        yield group
    finally:
        group.remove()


class Window:
    """When the fault began and ended (wall clock, as the receiver stamps deliveries)."""

    began = ended = 0.0


def run_through(
    tmp_path: Path, url: str, fault: Callable[[], None], repeats_in_flight: bool = True
) -> None:
    """The service on ``url`` under load, ``fault`` mid-run, then the module's checks (repeats
    only among in-flight deliveries unless ``repeats_in_flight`` is False: after a failover,
    the workers' unsynchronised commits may be lost, see the failover test)."""
    config = make_config(
        tmp_path, store_url=url, lock_duration_ms=LEASE_MS, rate_limit_per_s=10 * RATE,
        rate_limit_burst=10 * RATE,
    )  # fmt: skip
    open_store(config).close()  # the schema, before the processes race to create it
    window = Window()
    with Receiver(lambda attempt: (200, 0.02)) as receiver:
        service = ServiceProcesses(config, workers=2, logs=tmp_path / "logs")
        try:
            service.wait_ready()
            sender = Sender(service.url, receiver.url, RATE).start()
            wait_until(lambda: len(receiver.counts()) >= BEFORE, 90, "deliveries before the fault")
            window.began = time.time()
            fault()
            window.ended = time.time()
            created_at_end = len(sender.created)
            wait_until(lambda: len(sender.created) >= created_at_end + AFTER, 120, "201s again")
            sender.stop()
            sender.settle(120)
            check_delivered(receiver, sender, url, service, window)
            if repeats_in_flight:
                check_repeats_in_flight(receiver, window)
        except BaseException:
            print(service.output())
            raise
        finally:
            codes = service.stop()
    assert codes == [0, 0, 0], service.output()


def check_delivered(
    receiver: Receiver, sender: Sender, url: str, service: ServiceProcesses, window: Window
) -> None:
    accepted = set(sender.accepted.values())
    print(f"answers {dict(sender.answers)}; fault {window.ended - window.began:.1f} s")
    assert sender.answers["201"] >= BEFORE + AFTER
    assert set(sender.created.values()) <= accepted
    assert stored_ids(url) == accepted  # no 201 without a commit, one notification per key
    wait_until(lambda: set(receiver.counts()) >= accepted, 180, "every accepted delivered")
    wait_until(lambda: sent_count(url) == len(accepted), 60, "every one marked sent")
    assert service.alive(), "a process died"
    assert set(receiver.counts()) == accepted


def check_repeats_in_flight(receiver: Receiver, window: Window) -> None:
    """A repeat is a delivery whose outcome the fault kept from the store until its lease ran
    out: its first delivery was in flight around the fault, not long before nor after it."""
    first: dict[str, float] = {}
    for delivery in receiver.snapshot():
        first.setdefault(delivery.webhook_id, delivery.received_at)
    repeats = {i for i, n in receiver.counts().items() if n > 1}
    earliest, latest = window.began - LEASE_MS / 1000 - 1, window.ended + 5
    print(f"repeats: {len(repeats)}")
    assert all(earliest <= first[i] <= latest for i in repeats), sorted(
        first[i] - window.began for i in repeats
    )


def stored_ids(url: str) -> set[str]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM notifications").fetchall()}


def sent_count(url: str) -> int:
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SELECT count(*) FROM notifications WHERE status = 'sent'").fetchone()
    return int(row[0]) if row else 0


def terminate_every_connection(server: Cluster, rounds: int = 3) -> Callable[[], None]:
    """``rounds`` times, a second apart: each kills the connections made since the last."""

    def fault() -> None:
        killed = []
        for _ in range(rounds):
            killed.append(int(server.sql(TERMINATE)[0][0]))  # type: ignore[call-overload]
            time.sleep(1)
        print(f"terminated per round: {killed}")
        assert killed[0] >= 3, "the API and both workers had connections: the test proves little"

    return fault


def test_terminating_every_connection_mid_run_loses_nothing(
    tmp_path: Path, clusters: Clusters
) -> None:
    server = clusters.new("server").init()
    server.start()
    run_through(tmp_path, server.url, terminate_every_connection(server))


def test_a_server_restart_mid_run_loses_nothing(tmp_path: Path, clusters: Clusters) -> None:
    server = clusters.new("server").init()
    server.start()
    # down long enough for calls to fail and for the workers' backoff to grow
    run_through(tmp_path, server.url, lambda: server.restart(down_s=DOWN_S))


def test_failover_to_a_synchronous_standby_delivers_every_201(
    tmp_path: Path, clusters: Clusters
) -> None:
    primary = clusters.new("primary").init(synchronous_standby_names="'standby'")
    primary.start()
    standby = clusters.new("standby").standby_of(primary)
    standby.start()
    wait_until(lambda: synchronous(primary), 60, "the standby streaming synchronously")
    url = (
        f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/postgres"
        "?target_session_attrs=read-write"
    )

    def failover() -> None:
        primary.stop("immediate")
        standby.promote()

    # workers commit with synchronous_commit = off, so an outcome or claim the standby had not
    # received is lost with the primary: its notification is delivered again, not lost
    run_through(tmp_path, url, failover, repeats_in_flight=False)


def synchronous(primary: Cluster) -> bool:
    rows = primary.sql("SELECT sync_state FROM pg_stat_replication")
    return rows == [("sync",)]
