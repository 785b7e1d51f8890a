"""``notifyctl loadgen``: the open-model schedule, honest latency, the delivery ledger, the verdict.

Pure parts are tested directly; the behaviour that matters is tested through the real command
in a subprocess against real HTTP servers on 127.0.0.1: a deliberately slow API, one that
stalls, one that delivers a notification twice and drops another, the generator's null API
(which it cannot outrun), and ``notifyctl up`` itself. Timings of the generator are never
asserted; what is asserted are facts the measurement must show (a 200 ms server cannot answer
in less than 200 ms; a 1 s stall must appear in the latency of the requests due during it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from notifyctl.cli import app
from notifyctl.loadgen.http import Client, RequestFailed
from notifyctl.loadgen.plan import PlanError, Schedule, build_plan, build_schedule, parse_ramp
from notifyctl.loadgen.report import verdict
from notifyctl.loadgen.send import Sender, read_results
from notifyctl.loadgen.sink import Ledger
from notifyctl.loadgen.stats import HIGHEST_US, Histogram, Stats
from tests.helpers import free_port, wait_until
from tests.loadgen.fakes import FakeApi, NullApiThread

#: latency and lag limits no loaded 2-core CI machine can trip: for tests about something else
LENIENT = ["--max-mean-ms", "60000", "--max-p95-ms", "60000", "--max-p99-ms", "60000",
           "--max-lag-ms", "5000"]  # fmt: skip


def loadgen(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    """Run ``notifyctl loadgen`` as a process; its exit code, its JSON report, its output."""
    report = tmp_path / "report.json"
    argv = [sys.executable, "-m", "notifyctl", "loadgen", "--json", str(report), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    output = done.stdout + done.stderr
    assert report.exists(), output
    return done.returncode, json.loads(report.read_text()), output


# --------------------------------------------------------------------------- the schedule


def test_a_constant_rate_schedules_request_i_at_i_over_rate_and_batches_the_remainder() -> None:
    schedule = build_schedule(rate=40, duration="2.5s", ramp=None, batch=30)
    assert schedule.notifications == 100 and schedule.requests == 4
    assert [schedule.due(r) for r in range(4)] == [0.0, 0.75, 1.5, 2.25]
    assert [schedule.size(r) for r in range(4)] == [30, 30, 30, 10]


def test_a_ramp_moves_the_rate_linearly_and_due_times_only_grow() -> None:
    stages = parse_ramp("10s:100,10s:100,10s:0", start_rate=0)
    schedule = Schedule(stages, batch=1)
    assert schedule.notifications == 500 + 1000 + 500
    dues = [schedule.due(i) for i in range(schedule.requests)]
    assert dues == sorted(dues) and dues[-1] < 30.0
    assert dues[500] == pytest.approx(10.0)  # half-way: the 0 -> 100 ramp has sent its 500
    assert dues[1000] == pytest.approx(15.0)  # 5 s into the flat 100/s stage
    assert dues[250] == pytest.approx(10 * 0.5**0.5)  # n(t) = 5 t^2 reaches 250 at t = 7.07


@pytest.mark.parametrize(
    ("rate", "duration", "ramp", "batch", "flag"),
    [
        (10, "5m", "1m:100", 1, "--ramp and --duration"),
        (0, "10", None, 1, "--rate"),
        (10, "soon", None, 1, "--duration"),
        (10, "-5", None, 1, "--duration"),
        (10, None, "1m", 1, "--ramp"),
        (10, None, "1m:fast", 1, "--ramp stage '1m:fast'"),
        (10, "10", None, 1001, "--batch"),
        (0.01, "10", None, 1, "sends no notification"),
    ],
)
def test_bad_schedule_options_name_the_flag(
    rate: float, duration: str | None, ramp: str | None, batch: int, flag: str
) -> None:
    with pytest.raises(PlanError, match=flag):
        build_schedule(rate, duration, ramp, batch)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--ramp", "1m:x"], "--ramp stage '1m:x'"),
        (["--channel", "sms"], "--channel"),
        (["--target", "ftp://x"], "--target"),
        (["--sink-host", "0.0.0.0"], "--sink-host"),
        (["--duration", "1", "--target", f"http://127.0.0.1:{free_port()}"], "cannot connect"),
    ],
)
def test_bad_options_and_an_unreachable_target_exit_2_with_one_line(
    args: list[str], named: str
) -> None:
    result = CliRunner().invoke(app, ["loadgen", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("notifyctl: error:") and named in lines[0]


# --------------------------------------------------------------------------- measurement parts


def test_a_histogram_clamps_values_beyond_an_hour_and_counts_them() -> None:
    histogram = Histogram()
    for seconds in (0.25, 0.5, 7200.0, -0.001):
        histogram.record(seconds)
    summary = histogram.summary_ms()
    assert summary["count"] == 4 and summary["clamped"] == 1
    assert summary["max"] == pytest.approx(HIGHEST_US / 1000, rel=1e-3)
    decoded = Histogram.decode(histogram.encode())
    assert decoded.count == 4 and decoded.percentile_ms(50) == histogram.percentile_ms(50)


def new_ledger() -> tuple[Ledger, list[float]]:
    latencies: list[float] = []
    return Ledger("run1", latencies.append), latencies


def test_the_ledger_counts_lost_duplicates_and_settles_ambiguous_sends() -> None:
    ledger, latencies = new_ledger()
    ledger.accept("a", 0, when=10.0)
    ledger.receive("a", 0, when=10.5)
    ledger.receive("a", 0, when=11.0)  # the same webhook-id again
    ledger.receive("b", 1, when=11.5)  # arrives before its answer was read
    ledger.accept("b", 1, when=12.0)
    ledger.accept("c", 2, when=12.0)  # never arrives
    ledger.ambiguous.update({3, 4})  # timed out after sending
    ledger.receive("d", 3, when=13.0)  # ... and the service had it
    ledger.receive("e", 3, when=13.0)  # a second notification for the same key
    summary = ledger.summary()
    assert summary["accepted"] == 3 and summary["delivered"] == 2 and ledger.outstanding == 1
    assert summary["lost"] == 1 and summary["lost_sample"] == [{"seq": 2, "id": "c"}]
    assert summary["duplicates"] == 2 and summary["duplicate_ids"] == 1
    assert summary["duplicate_sample"] == [0, 3]
    assert summary["ambiguous_delivered"] == 1 and summary["ambiguous_unresolved"] == 1
    assert summary["unacknowledged"] == 0 and summary["arrived_before_answer"] == 1
    assert latencies == [0.5, -0.5]  # the histogram records the early one as zero


def test_a_delivery_never_accepted_nor_ambiguous_is_flagged_unacknowledged() -> None:
    ledger, _ = new_ledger()
    ledger.receive("x", 7, when=1.0)
    assert ledger.summary()["unacknowledged_sample"] == [7]


def summary_with(failed: list[str], invalid: list[str]) -> dict[str, Any]:
    names = ["p99 latency", "duplicates", "lost", "error rate"]
    thresholds = [
        {"name": n, "value": 1, "op": "<", "limit": 0, "unit": "", "passed": n not in failed}
        for n in names
    ]
    return {"thresholds": thresholds, "generator": {"invalid_reasons": invalid}}


@pytest.mark.parametrize(
    ("failed", "invalid", "expected"),
    [
        ([], [], ("pass", 0)),
        (["p99 latency"], [], ("fail", 1)),
        ([], ["lag"], ("invalid", 3)),
        (["p99 latency"], ["lag"], ("invalid", 3)),  # latency says nothing if the generator lagged
        (["lost"], ["lag"], ("fail", 1)),  # a lost notification is a fact however the run went
        (["duplicates"], [], ("fail", 1)),
    ],
)
def test_the_verdict_and_its_exit_code(
    failed: list[str], invalid: list[str], expected: tuple[str, int]
) -> None:
    result = verdict(summary_with(failed, invalid))
    assert (result["verdict"], result["exit_code"]) == expected


# --------------------------------------------------------------------------- real runs


def test_against_a_200_ms_server_the_rate_holds_and_p50_is_not_below_200_ms(
    tmp_path: Path,
) -> None:
    with FakeApi(delay_s=0.2) as api:
        code, report, output = loadgen(
            tmp_path, "--target", api.url, "--rate", "20", "--duration", "3", *LENIENT
        )
    assert code == 0, output
    counts, latency = report["counts"], report["latency_ms"]
    assert counts["requests_sent"] == counts["planned_notifications"] == 60
    assert counts["not_sent"] == 0 and report["rates"]["offered"] == 20.0
    assert latency["latency"]["p50"] >= 200.0  # measured from the intended send: never less
    # open model: requests kept going out while earlier ones waited (a closed loop has 1)
    assert report["generator"]["peak_in_flight"] >= 3
    assert report["delivery"]["lost"] == 0 and report["delivery"]["accepted"] == 60


def test_a_one_second_stall_mid_run_shows_in_p99(tmp_path: Path) -> None:
    with FakeApi(stall_at=60, stall_s=1.0) as api:
        code, report, output = loadgen(
            tmp_path, "--target", api.url, "--rate", "50", "--duration", "4", *LENIENT
        )
    assert code == 0, output
    latency = report["latency_ms"]["latency"]
    assert report["counts"]["requests_sent"] == 200  # the generator did not wait for the server
    assert latency["p99"] >= 900.0  # the requests due during the stall waited it out
    assert latency["p50"] < latency["p99"] / 2
    assert report["generator"]["peak_in_flight"] >= 20  # about a second's worth queued up


def test_a_duplicate_and_a_lost_notification_fail_the_run(tmp_path: Path) -> None:
    with FakeApi(duplicate=frozenset({3}), drop=frozenset({5})) as api:
        code, report, output = loadgen(
            tmp_path, "--target", api.url, "--rate", "20", "--duration", "1",
            "--drain-timeout", "2", *LENIENT,
        )  # fmt: skip
    assert code == 1, output
    delivery = report["delivery"]
    assert delivery["duplicates"] == 1 and delivery["duplicate_sample"] == [3]
    assert delivery["lost"] == 1 and delivery["lost_sample"][0]["seq"] == 5
    assert report["verdict"] == "fail"
    failed = {t["name"] for t in report["thresholds"] if t["passed"] is False}
    assert failed == {"duplicates", "lost"}
    assert "Total Duplicates    1" in output and "FAIL" in output


def test_a_rate_beyond_the_generator_makes_the_run_invalid(tmp_path: Path) -> None:
    with NullApiThread() as api:
        code, report, output = loadgen(
            tmp_path, "--target", api.url, "--rate", "50000", "--duration", "1",
            "--channel", "log", "--timeout", "5",
        )  # fmt: skip
    assert code == 3, output
    assert report["verdict"] == "invalid"
    assert report["generator"]["invalid_reasons"], report["generator"]
    assert report["counts"]["not_sent"] > 0 or report["generator"]["lag_p99_ms"] > 10
    assert report["delivery"]["checked"] is False


def test_calibrate_reports_its_steps_and_no_ceiling_when_even_the_first_rate_is_too_much(
    tmp_path: Path,
) -> None:
    code, report, output = loadgen(tmp_path, "--calibrate", "--rate", "200000", "--duration", "0.3")
    assert code == 3, output
    assert report["schema"] == "notifyctl-loadgen-calibration/1" and report["ceiling"] is None
    (step,) = report["steps"]  # failed, retried once, recorded once
    assert step["passed"] is False and step["failures"]
    # one line per step, never wrapped, even when the output is not a terminal (80 columns)
    first, second = (line for line in output.splitlines() if line.startswith("✗"))
    assert first.endswith("(retrying once)") and "not sent" in second
    assert "no step passed" in output


def test_the_json_report_has_the_documented_shape(tmp_path: Path) -> None:
    with FakeApi() as api:
        code, report, output = loadgen(
            tmp_path, "--target", api.url, "--rate", "40", "--duration", "1.5",
            "--progress", "0.5", "--batch", "4", *LENIENT,
        )  # fmt: skip
    assert code == 0, output
    assert_report_shape(report)
    assert report["plan"]["batch"] == 4 and report["counts"]["requests_sent"] == 15
    assert report["outcomes"] == {"created": 60}


def assert_report_shape(report: dict[str, Any]) -> None:
    assert report["schema"] == "notifyctl-loadgen/1"
    assert set(report) >= {
        "run_id", "target", "started_at", "plan", "duration_s", "rates", "counts", "outcomes",
        "errors", "latency_ms", "delivery", "generator", "thresholds", "verdict", "exit_code",
        "reasons", "histograms", "intervals",
    }  # fmt: skip
    assert set(report["rates"]) == {"target", "offered", "achieved", "achieved_ratio"}
    histograms = {"latency", "error_latency", "service_time", "lag", "delivery", "hiccup"}
    assert set(report["latency_ms"]) == set(report["histograms"]) == histograms
    for name, blob in report["histograms"].items():
        summary = report["latency_ms"][name]
        assert Histogram.decode(blob).count == summary["count"]
        assert set(summary) == {"count", "clamped", "mean", "p50", "p90", "p95", "p99",
                                "p99_9", "max"}  # fmt: skip
    assert report["intervals"] and all(
        set(i) == {"t_s", "requests_sent", "in_flight", "cpu_percent", "latency"}
        for i in report["intervals"]
    )
    for threshold in report["thresholds"]:
        assert set(threshold) == {"name", "value", "op", "limit", "passed", "unit"}
    assert {"accepted", "delivered", "lost", "duplicates", "ambiguous"} <= set(report["delivery"])
    assert report["exit_code"] == {"pass": 0, "fail": 1, "invalid": 3}[report["verdict"]]


@pytest.mark.integration
def test_against_notifyctl_up_nothing_is_lost_or_duplicated(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "NOTIFYCTL_MONITOR_PORT_BASE": "0", "NOTIFYCTL_API_KEYS": "k-load"}
    argv = [sys.executable, "-m", "notifyctl", "up", "--workers", "2", "--port", str(port),
            "--data-dir", str(tmp_path / "data")]  # fmt: skip
    with (tmp_path / "up.log").open("wb") as log:
        up = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: up.poll() is not None or port_open(port), 30, "the API")
        code, report, output = loadgen(
            tmp_path, "--target", f"http://127.0.0.1:{port}", "--rate", "50", "--duration",
            "10", "--drain-timeout", "30", *LENIENT,
            env={**os.environ, "NOTIFYCTL_API_KEY": "k-load"},  # sent as Authorization: Bearer
        )  # fmt: skip
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
    assert code == 0, output
    delivery = report["delivery"]
    assert delivery["accepted"] == delivery["delivered"] == 500
    assert delivery["lost"] == 0 and delivery["duplicates"] == 0
    assert report["counts"]["failed"] == 0 and report["outcomes"] == {"created": 500}


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --------------------------------------------------------------------------- the HTTP client

CREATED = b'HTTP/1.1 201 Created\r\ncontent-length: 11\r\n\r\n{"id":"a"}\n'


class ScriptedServer:
    """A raw TCP server that answers the Nth request with ``replies[N]`` bytes (then closes the
    connection when the reply is None-terminated), counting the connections it accepts."""

    def __init__(self, replies: list[bytes | None]) -> None:
        self.replies = replies
        self.connections = 0
        self.served = 0

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await self._answer(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0]))
        reply = self.replies[self.served]
        self.served += 1
        if reply is None:  # hang: never answer
            await asyncio.sleep(3600)
            return False
        writer.write(reply.rstrip(b"|"))
        await writer.drain()
        return not reply.endswith(b"|")  # "|" marks: close the connection after this reply


async def exchange(replies: list[bytes | None], posts: int, timeout_s: float = 5.0) -> Any:
    server = ScriptedServer(replies)
    async with server as url:
        client = Client(url, {"content-type": "application/json"}, timeout_s)
        try:
            answers = [await client.post("/v1/notifications", b"{}") for _ in range(posts)]
        except RequestFailed as exc:
            return exc.kind, server.connections
        finally:
            client.close()
    return answers, server.connections


def test_the_client_reuses_a_keep_alive_connection() -> None:
    answers, connections = asyncio.run(exchange([CREATED, CREATED, CREATED], posts=3))
    assert [(a.status, a.body) for a in answers] == [(201, b'{"id":"a"}\n')] * 3
    assert connections == 1


def test_the_client_reads_chunked_bodies_and_skips_100_continue() -> None:
    chunked = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n"
               b"\r\n4\r\n{\"a\"\r\n6;x=y\r\n:true}\r\n0\r\n\r\n")  # fmt: skip
    answers, _ = asyncio.run(exchange([chunked, CREATED], posts=2))
    assert answers[0].status == 200 and answers[0].body == b'{"a":true}'
    assert answers[1].status == 201


def test_the_client_opens_a_new_connection_after_connection_close_or_http_1_0() -> None:
    close = b"HTTP/1.1 503 Busy\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}|"
    until_eof = b'HTTP/1.0 201 Created\r\n\r\n{"id":"b"}|'
    answers, connections = asyncio.run(exchange([close, until_eof, CREATED], posts=3))
    assert [a.status for a in answers] == [503, 201, 201]
    assert answers[1].body == b'{"id":"b"}' and connections == 3


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (None, "timeout"),  # sent, never answered
        (b'HTTP/1.1 201 Created\r\ncontent-length: 50\r\n\r\n{"id"|', "reset"),  # cut short
        (b"SMTP ready\r\n\r\n", "bad_response"),
        (b"HTTP/1.1 201 Created\r\ncontent-length: ten\r\n\r\n", "bad_response"),
    ],
)
def test_the_client_names_each_failure_after_sending(reply: bytes | None, kind: str) -> None:
    assert asyncio.run(exchange([reply], posts=1, timeout_s=0.5)) == (kind, 1)


def test_a_refused_connection_is_not_sent() -> None:
    async def refused() -> str:
        client = Client(f"http://127.0.0.1:{free_port()}", {}, 5.0)
        try:
            await client.post("/v1/notifications", b"{}")
        except RequestFailed as exc:
            return exc.kind
        return "answered"

    assert asyncio.run(refused()) == "refused"


def test_the_request_template_makes_the_same_json_as_the_api_expects() -> None:
    plan = build_plan("http://127.0.0.1:1", 10, "1", None, 3, "webhook", "127.0.0.1")
    sender = Sender(plan, Stats(), None, Client(plan.target, {}, 1.0), 'http://h:1/a%"b')
    body = json.loads(sender.body(7, [11, 12, 13], due=0.0))
    first = body["notifications"][0]
    assert first == {
        "user_id": "user-11", "channel": "webhook", "title": f"loadgen {plan.run_id} #7",
        "data": {"run": plan.run_id, "seq": 7, "due_ms": first["data"]["due_ms"]},
        "idempotency_key": f"{plan.run_id}:7", "to": 'http://h:1/a%"b',
    }  # fmt: skip
    assert [n["data"]["seq"] for n in body["notifications"]] == [7, 8, 9]


@pytest.mark.parametrize(
    "raw",
    [
        b"{}",
        b'{"results": [1]}',
        b'{"results": [{"status": 201, "notification": {"id": 5}}]}',
        b'{"results": [{"status": "201"}]}',
        b"not json",
    ],  # fmt: skip
)
def test_a_malformed_batch_answer_is_refused_whole(raw: bytes) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        read_results(raw, size=1)


def step_summary(lag_p99_ms: float) -> dict[str, Any]:
    return {
        "generator": {"lag_p99_ms": lag_p99_ms, "interrupted": False, "cpu_percent": 3.0},
        "counts": {"not_sent": 0},
        "rates": {"achieved_ratio": 1.0},
        "latency_ms": {"service_time": {"p99": 0.3}},
    }


def test_calibration_judges_lag_against_the_limit_it_is_given() -> None:
    from notifyctl.loadgen.calibrate import MAX_LAG_MS, judge

    jittery = step_summary(lag_p99_ms=2.2)  # timers this late with the generator idle
    assert judge(48, 1, jittery)["failures"] == [f"lag p99 2.2 ms > {MAX_LAG_MS:g} ms"]
    assert judge(48, 1, jittery, max_lag_ms=4.4)["passed"] is True
    assert judge(48, 1, step_summary(lag_p99_ms=5.0), max_lag_ms=4.4)["passed"] is False
