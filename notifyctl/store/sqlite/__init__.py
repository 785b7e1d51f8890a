"""The embedded store: SQLite in WAL mode, safe for many processes on one host.

Features
========
* insert_many: one transaction, all or nothing; durable at COMMIT (``synchronous=full`` for the
  API; workers write their outcomes with ``normal``: a lost write after power loss is a redelivery)
* claim_batch: one write transaction (``BEGIN IMMEDIATE``), an index range scan per band of the
  claim order (``notifyctl.claim_order``)
* claim_ids: one write transaction; exhausted ids are left to ``claim_batch``, which buries them
* finish_and_claim_ids: one write transaction for both (one wait for the write lock, one commit)
* renew, finish: one transaction each, fenced per claim on ``(locked_by, lock_version)``
* whose clock: the caller's ``now`` (one host, one clock)
* time precision: 1 ms (integers)
* hosts: one (the file's host); many processes share the write lock
* dead-letter outbox: ``dead_letter_at`` with a partial index
* purge_terminal: one transaction per batch, a range of a partial index of the terminal rows

Layout: ``store.py`` (``SqliteStore``: the port, and which transaction each call runs in),
``connection.py`` (the one connection per process, its lock, ``BEGIN IMMEDIATE``),
``schema.py`` (tables, indexes, rows to notifications), ``leases.py`` (claims, renewals, fenced
outcomes in SQL), ``ops.py`` (operators' queries), ``dead_letters.py`` (the outbox),
``workers.py`` (the workers' rows), ``keys.py`` (the API keys' rows), ``limits.py`` (each
tenant's limits and quota usage), ``recipients.py`` (each tenant's recipients), ``templates.py``
(each tenant's templates), ``retention.py`` (the purge of old terminal rows and its index),
``breakers.py`` (each destination's circuit breaker).
"""

from notifyctl.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
