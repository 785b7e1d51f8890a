"""Whose clock the MongoDB store goes by: the server's, for every lease and due-time decision.

Every store call carries a ``now`` from the caller's clock (the port is shared with SQLite, whose
one host has one clock). Across hosts that clock cannot decide who holds a lease: a worker whose
clock runs 20 s ahead would take leases that are still live and deliver a second time. So on
MongoDB each comparison that decides "due" or "live lease" (claims, cancel, counts, backlog,
oldest due), and each time the store writes that a later comparison reads (lease expiry, due time,
``updated_at``, ``sent_at``, history), is the server's clock, ``$$NOW``, read inside the same
atomic operation that acts on it: no round trip between reading the time and using it, one clock
for every worker (as River and Oban do with PostgreSQL's ``now()``). A caller's ``now`` is used
only as a difference: a retry's backoff, ``retry_at - now``, is added to the server's clock.

A real mongod would need nothing more than ``$$NOW``. ``SERVER_NOW`` converts it to a number and
back (the same instant, to the millisecond) because on the secantusdb stand-in the tests run on,
``$$NOW`` compares *equal* to every stored date (a timezone-aware value against naive ones), so
``$lte`` was always true and ``$gt`` always false: every lease looked expired. The converted value
compares correctly on both. A server-time read per call (``hello``'s ``localTime``) was not needed,
and would be worse on a real server: the time is then read one round trip before it is used.

``now_expression`` is a seam: the store takes a function from the caller's ``now`` to the
expression the server evaluates as "now". Production uses the server's clock and ignores the
caller's; tests of time-dependent rules (the contract suite, the claim state machine) pass one
that stands the caller's logical time in for the server's clock (``tests/mongodb_server.py``),
so the same pipelines run with time under the test's control.

Clock assumptions that remain (see also DESIGN "Whose clock"):
- SQLite: one host, so the host's clock decides everything.
- A retry's delay is chosen by the worker; only its start is the server's clock.
- ``scheduled_for`` is an absolute time from the client; its due check is the server's clock, but
  whether it is stored ``scheduled`` or ``pending`` is the API host's (both are claimable).
- ``created_at`` and the ids (ULIDs) come from the API host's clock.
- Heartbeats carry the worker's clock and are judged by the reader's (``inspect workers``, the
  monitor): a skewed worker can look stale or alive; no lease depends on it.
- Operator windows (``finished_since``, dead letters by time, the age of the oldest due) are in the
  reader's clock; renewal intervals are durations on the worker (only the clock's rate matters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: the server's clock, as an aggregation expression (see the module docstring for the round trip)
SERVER_NOW: dict[str, Any] = {"$toDate": {"$toLong": "$$NOW"}}

#: from the caller's ``now`` to the expression the server evaluates as "now"
NowExpression = Callable[[int], dict[str, Any]]


def server_now(caller_now: int) -> dict[str, Any]:
    """The server's clock, whatever the caller's says."""
    return SERVER_NOW


def later(at: dict[str, Any], ms: int) -> dict[str, Any]:
    """``ms`` after ``at`` (a date expression), as a date expression."""
    return {"$add": [at, ms]}
