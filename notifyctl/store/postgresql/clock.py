"""Whose clock the PostgreSQL store goes by: the server's, for every lease and due-time decision.

As on MongoDB (``store/mongodb/clock.py``, DESIGN "Whose clock"), each comparison that decides
"due" or "live lease" and each time the store writes that a later comparison reads (lease
expiry, due time, ``updated_at``, ``sent_at``, history) is the server's clock, read inside the
statement that acts on it: ``statement_timestamp()``, one instant for every row a statement
touches, the same clock for every worker (as River and Oban use ``now()``). A caller's ``now``
is used only as a difference: a retry's backoff, ``retry_at - now``, is added to the server's
clock. Times are stored as epoch milliseconds (``bigint``), as the port passes them.

``Clock`` is a seam: the SQL text the statements use as "now". Production uses the server's;
tests of time-dependent rules (the contract suite, the claim state machine) use ``CALLERS_NOW``,
the caller's ``now`` bound as a parameter, so the same statements run with time under the
test's control. Every statement that reads the clock therefore also binds ``now``.
"""

from __future__ import annotations

from typing import NewType

#: SQL text of an epoch-milliseconds ``bigint`` expression the statements take as "now"
Clock = NewType("Clock", str)

#: the server's clock: stable within a statement, so every row of a claim sees one instant
SERVER_NOW = Clock("floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint")
#: the caller's ``now`` (a named parameter): for tests only; production never trusts it
CALLERS_NOW = Clock("%(now)s::bigint")
