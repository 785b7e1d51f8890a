"""The raw RabbitMQ consume ceiling with pika: what the broker alone delivers on this machine.

Fills a fresh durable queue with N persistent messages (the same shape as notifyctl's wake-ups:
``{"id": <26 chars>, "priority": 1}``, on a queue with ``x-max-priority`` 2 like notifyctl's),
then drains it with C consumer processes started together: pika's asynchronous ``SelectConnection``
(what notifyctl's workers use; ``--adapter blocking`` for ``BlockingConnection``, about half as
fast here), ``basic_qos(prefetch)``, a manual ``basic_ack`` of every message, nothing else. The rate
is N divided by the time from the first delivery to the last ack, over all consumers. The queue is
deleted afterwards.

    .venv/bin/python benchmarks/raw_pika.py --consumers 1,2 --runs 3
    .venv/bin/python benchmarks/raw_pika.py --adapter both --runs 3

``e2e.py --broker URL`` runs the same measurement beside its end-to-end runs (the ceiling).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from multiprocessing.synchronize import Event, Semaphore
from queue import Empty
from typing import Any

import pika
import psutil

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
IDLE_S = 1.0  # a consumer stops after this long without a message (not in the timing)
ATTEMPTS = 5  # drains per measurement before giving up (RabbitMQ restarted under us)


@dataclass(frozen=True)
class Drain:
    """One drain of N messages by C consumers."""

    consumers: int
    messages: int
    seconds: float
    fill_per_s: float
    consumer_cpu_s: float
    rabbitmq_cpu_s: float = float("nan")
    #: CPU that processes other than the consumers and RabbitMQ used meanwhile, in cores
    other_cores: float = float("nan")

    @property
    def rate(self) -> float:
        return self.messages / max(self.seconds, 1e-9)


def connect(url: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.URLParameters(url))


def safe_url(url: str) -> str:
    """``url`` without its user and password."""
    params = pika.URLParameters(url)
    vhost = "%2F" if params.virtual_host == "/" else params.virtual_host
    return f"amqp://{params.host}:{params.port}/{vhost}"


def rabbitmq_process() -> psutil.Process | None:
    """The local RabbitMQ node (Erlang's beam.smp), to count its CPU as the benchmark's."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        name = proc.info["name"] or ""
        if name.startswith("beam") and "rabbit" in " ".join(proc.info["cmdline"] or []):
            return proc
    return None


def cpu_s(proc: psutil.Process | None) -> float:
    if proc is None:
        return float("nan")
    try:
        t = proc.cpu_times()
    except psutil.Error:
        return float("nan")
    return float(t.user + t.system)


def busy_core_s() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def queue_depth(url: str, queue: str) -> int | None:
    """Messages ready in ``queue``, or None when it does not exist."""
    with connect(url) as conn:
        try:
            return int(conn.channel().queue_declare(queue, passive=True).method.message_count)
        except pika.exceptions.ChannelClosedByBroker:
            return None


def delete_queues(url: str, queues: list[str]) -> None:
    with connect(url) as conn:
        ch = conn.channel()
        for queue in queues:
            ch.queue_delete(queue)


def fill(url: str, queue: str, count: int, priority_queue: bool = True) -> float:
    """Declare ``queue`` and publish ``count`` persistent messages; returns messages/s.

    Without publisher confirms (waiting for each would cap this at about 1,200/s): the fill is not
    what is measured, and the queue's depth says when every message is in.
    """
    props = pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent, priority=1, content_type="application/json"
    )
    with connect(url) as conn:
        ch = conn.channel()
        args = {"x-max-priority": 2} if priority_queue else None
        ch.queue_declare(queue, durable=True, arguments=args)
        started = time.monotonic()
        for seq in range(count):
            ch.basic_publish("", queue, b'{"id": "%026d", "priority": 1}' % seq, props)
        while ch.queue_declare(queue, durable=True, passive=True).method.message_count < count:
            conn.sleep(0.05)
        return count / (time.monotonic() - started)


def consume(url: str, queue: str, prefetch: int, sync: Sync, out: mp.Queue[Any]) -> None:
    """A ``BlockingConnection`` consumer: wait for ``go``, drain until idle, report (n, first,
    last, CPU s)."""
    conn = connect(url)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=prefetch)
    seen = 0
    first = last = 0.0
    sync.ready.release()
    sync.go.wait()
    cpu0 = os.times()
    for method, _props, _body in ch.consume(queue, auto_ack=False, inactivity_timeout=IDLE_S):
        if method is None:  # idle: the queue is drained
            break
        if not seen:
            first = time.time()
        ch.basic_ack(method.delivery_tag)
        seen += 1
        last = time.time()
    cpu1 = os.times()
    ch.cancel()
    conn.close()
    out.put((seen, first, last, cpu1.user + cpu1.system - cpu0.user - cpu0.system))


def consume_select(url: str, queue: str, prefetch: int, sync: Sync, out: mp.Queue[Any]) -> None:
    """The same with pika's asynchronous ``SelectConnection`` (what notifyctl's workers use)."""
    state = {"seen": 0, "first": 0.0, "last": 0.0, "start": 0.0}
    cpu0 = os.times()

    def on_message(ch: Any, method: Any, _props: Any, _body: bytes) -> None:
        if not state["seen"]:
            state["first"] = time.time()
        ch.basic_ack(method.delivery_tag)
        state["seen"] += 1
        state["last"] = time.time()

    def idle_check() -> None:
        if time.time() - max(state["last"], state["start"]) > IDLE_S:
            conn.close()
        else:
            conn.ioloop.call_later(0.1, idle_check)

    def on_qos(ch: Any) -> None:
        nonlocal cpu0
        sync.ready.release()
        sync.go.wait()
        cpu0, state["start"] = os.times(), time.time()
        ch.basic_consume(queue, lambda *a: on_message(ch, *a[1:]), auto_ack=False)
        conn.ioloop.call_later(0.1, idle_check)

    def on_channel(ch: Any) -> None:
        ch.basic_qos(prefetch_count=prefetch, callback=lambda _frame: on_qos(ch))

    conn = pika.SelectConnection(
        pika.URLParameters(url),
        on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
        on_close_callback=lambda c, _reason: c.ioloop.stop(),
    )
    conn.ioloop.start()
    cpu1 = os.times()
    seen, first, last = int(state["seen"]), state["first"], state["last"]
    out.put((seen, first, last, cpu1.user + cpu1.system - cpu0.user - cpu0.system))


CONSUMERS = {"select": consume_select, "blocking": consume}


class IncompleteDrain(RuntimeError):
    pass


@dataclass(frozen=True)
class Sync:
    """Each consumer releases ``ready`` once connected, then waits for ``go``."""

    ready: Semaphore
    go: Event


def drain(
    url: str, count: int, consumers: int, prefetch: int = 10, adapter: str = "select"
) -> Drain:
    """Fill a fresh queue with ``count`` messages and drain it with ``consumers`` processes.

    Other sessions' tests restart this RabbitMQ node now and then: a drain that loses its
    connection is thrown away and measured again once the node answers.
    """
    leftovers: list[str] = []
    for attempt in range(1, ATTEMPTS + 1):
        queue = f"bench-raw-{uuid.uuid4().hex[:12]}"
        try:
            return drain_once(url, queue, count, consumers, prefetch, adapter)
        except (pika.exceptions.AMQPError, IncompleteDrain, Empty) as exc:
            print(f"  raw pika: attempt {attempt} failed ({exc!r}); retrying", file=sys.stderr)
            wait_for_rabbitmq(url)
        finally:
            leftovers = delete_quietly(url, [*leftovers, queue])
            if leftovers:
                print(f"  raw pika: could not delete {leftovers} yet", file=sys.stderr)
    raise RuntimeError(f"raw pika: {ATTEMPTS} drains failed; is RabbitMQ up at {safe_url(url)}?")


def wait_for_rabbitmq(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connect(url).close()
            return
        except pika.exceptions.AMQPError:
            time.sleep(1.0)


def delete_quietly(url: str, queues: list[str]) -> list[str]:
    """Delete ``queues``; the ones that could not be deleted (RabbitMQ down) come back."""
    try:
        delete_queues(url, queues)
    except pika.exceptions.AMQPError:
        return queues
    return []


def drain_once(
    url: str, queue: str, count: int, consumers: int, prefetch: int, adapter: str
) -> Drain:
    ctx = mp.get_context("spawn")
    sync = Sync(ctx.Semaphore(0), ctx.Event())
    out: mp.Queue[Any] = ctx.Queue()
    rabbit = rabbitmq_process()
    fill_rate = fill(url, queue, count)
    target, args = CONSUMERS[adapter], (url, queue, prefetch, sync, out)
    procs = [ctx.Process(target=target, args=args, daemon=True) for _ in range(consumers)]
    try:
        for p in procs:
            p.start()
        for _ in procs:  # every consumer connected, its prefetch set, waiting for the start
            if not sync.ready.acquire(timeout=60):
                raise IncompleteDrain("a consumer did not connect within 60 s")
        time.sleep(0.2)  # let them settle into their wait
        rabbit0, busy0, t0, own0 = cpu_s(rabbit), busy_core_s(), time.monotonic(), own_cpu_s()
        sync.go.set()
        reports = [out.get(timeout=120) for _ in procs]
        rabbit1, busy1, t1, own1 = cpu_s(rabbit), busy_core_s(), time.monotonic(), own_cpu_s()
    finally:
        for p in procs:  # our own children, by handle
            p.join(10)
            if p.is_alive():
                p.kill()
    got = sum(r[0] for r in reports)
    if got != count:
        raise IncompleteDrain(f"drained {got} of {count}")
    started = min(r[1] for r in reports if r[0])
    ended = max(r[2] for r in reports if r[0])
    consumer_cpu = sum(r[3] for r in reports)
    rabbit_cpu = rabbit1 - rabbit0
    # the window includes each consumer's idle second at the end; that second is nobody's CPU
    others = busy1 - busy0 - consumer_cpu - rabbit_cpu - (own1 - own0)
    return Drain(consumers, got, ended - started, fill_rate, consumer_cpu, rabbit_cpu,
                 max(0.0, others) / (t1 - t0))  # fmt: skip


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def describe(d: Drain) -> str:
    return (
        f"  raw pika, {d.consumers} consumer(s): {d.messages} in {d.seconds:.2f} s ="
        f" {d.rate:,.0f}/s; CPU s: consumers {d.consumer_cpu_s:.1f}, RabbitMQ"
        f" {d.rabbitmq_cpu_s:.1f}; other load {d.other_cores:.1f} cores; fill {d.fill_per_s:,.0f}/s"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="raw RabbitMQ consume rate with pika")
    p.add_argument("--url", default=DEFAULT_URL)
    p.add_argument("--count", type=int, default=20_000)
    p.add_argument("--consumers", default="1,2", help="comma-separated consumer process counts")
    p.add_argument("--prefetch", type=int, default=10)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--adapter", default="select", help="select, blocking or both (pika adapters)")
    a = p.parse_args(argv)
    adapters = list(CONSUMERS) if a.adapter == "both" else [a.adapter]
    results: dict[tuple[str, int], list[float]] = {}
    for _ in range(a.runs):
        for adapter in adapters:
            for c in (int(x) for x in a.consumers.split(",")):
                d = drain(a.url, a.count, c, a.prefetch, adapter)
                print(f"  {adapter}: {describe(d).strip()}", file=sys.stderr, flush=True)
                results.setdefault((adapter, c), []).append(d.rate)
    for (adapter, c), rates in results.items():
        per_run = ", ".join(f"{r:,.0f}" for r in rates)
        median = statistics.median(rates)
        print(f"{adapter}, {c} consumer(s): median {median:,.0f}/s ({per_run})")


if __name__ == "__main__":
    main()
