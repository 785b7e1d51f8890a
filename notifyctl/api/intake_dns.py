"""The SSRF guard at intake, without letting DNS hold intake.

A request's webhook hosts are resolved at once, each distinct host once, within one deadline
per request (``NOTIFYCTL_INTAKE_DNS_TIMEOUT_MS``). A host that has not resolved by then is
accepted, as one that does not resolve at all always was: DNS trouble is no reason to refuse a
notification, and the guard runs again on every address when it is delivered. Outcomes are kept
``CACHE_TTL_S`` seconds (at most ``CACHE_ENTRIES`` hosts), so a client repeating a slow name pays
for it once.

A lookup that misses the deadline goes on in the background and fills the cache when it ends;
it is not cancelled, because a getaddrinfo thread cannot be. So that no client can pile them up,
at most ``MAX_LOOKUPS`` run at once per process and at most ``MAX_PENDING`` may wait: past that a
new host is accepted unchecked (checked at delivery), never queued.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from notifyctl.channels.destinations import DestinationPolicy, ForbiddenDestination, GuardedResolver

log = logging.getLogger("notifyctl.api")
CACHE_TTL_S = 30.0
CACHE_ENTRIES = 10_000
MAX_LOOKUPS = 16
MAX_PENDING = 1_000


class IntakeResolver:
    """Why each webhook URL of a request may not be reached, within a deadline."""

    def __init__(
        self,
        policy: DestinationPolicy,
        deadline_s: float,
        resolver: AbstractResolver | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = CACHE_ENTRIES,
    ) -> None:
        self.policy, self.deadline_s, self.clock = policy, deadline_s, clock
        self.max_entries = max_entries
        self._inner = resolver
        #: host -> (when the entry expires, why it is forbidden or None)
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        #: tasks and locks belong to one event loop (tests may run several, one after another)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[str, asyncio.Task[str | None]] = {}
        self._slots = asyncio.Semaphore(MAX_LOOKUPS)

    async def problems(self, urls: Iterable[str]) -> dict[str, str]:
        """The URLs that may not be reached, each with why; the rest are absent."""
        found: dict[str, str] = {}
        by_host: dict[str, list[str]] = {}
        for url in set(urls):
            problem = self.policy.literal_problem(url)
            host = (urlsplit(url).hostname or "").lower().rstrip(".")
            if problem:
                found[url] = problem
            elif needs_dns(self.policy, host):
                by_host.setdefault(host, []).append(url)
        for host, problem in (await self._resolve_all(list(by_host))).items():
            found.update(dict.fromkeys(by_host[host], problem))
        return found

    async def _resolve_all(self, hosts: list[str]) -> dict[str, str]:
        self._bind(asyncio.get_running_loop())
        now = self.clock()
        known: dict[str, str | None] = {}
        waiting: dict[str, asyncio.Task[str | None]] = {}
        for host in hosts:
            entry = self._cache.get(host)
            if entry is not None and entry[0] > now:
                known[host] = entry[1]
            elif (task := self._lookup(host)) is not None:
                waiting[host] = task
        if waiting:
            await asyncio.wait(waiting.values(), timeout=self.deadline_s)
        known.update({h: t.result() for h, t in waiting.items() if t.done() and not t.cancelled()})
        return {host: problem for host, problem in known.items() if problem}

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            self._loop, self._pending = loop, {}
            self._slots = asyncio.Semaphore(MAX_LOOKUPS)

    def _lookup(self, host: str) -> asyncio.Task[str | None] | None:
        """The lookup of ``host`` under way, a new one, or None when too many are waiting."""
        task = self._pending.get(host)
        if task is None and len(self._pending) < MAX_PENDING:
            task = self._pending[host] = asyncio.create_task(self._resolve(host))
        return task

    async def _resolve(self, host: str) -> str | None:
        try:
            async with self._slots:
                problem = await self._problem(host)
            self._remember(host, problem)
            return problem
        finally:
            self._pending.pop(host, None)

    async def _problem(self, host: str) -> str | None:
        inner = self._inner or aiohttp.ThreadedResolver()
        try:
            await GuardedResolver(self.policy, inner).resolve(host, 0, socket.AF_UNSPEC)
        except ForbiddenDestination as exc:
            return str(exc)
        except OSError:
            return None  # does not resolve now: checked again when delivered
        except Exception as exc:  # a resolver bug must not fail intake; delivery checks again
            log.warning("resolving %s at intake failed: %r", host, exc)
            return None
        return None

    def _remember(self, host: str, problem: str | None) -> None:
        self._cache.pop(host, None)
        self._cache[host] = (self.clock() + CACHE_TTL_S, problem)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)  # the oldest entry


def needs_dns(policy: DestinationPolicy, host: str) -> bool:
    """A name that is not allowed by name: an IP literal was judged without DNS."""
    if not host or policy.host_allowed(host):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False
