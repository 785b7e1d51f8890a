"""The shared store on PostgreSQL, through psycopg 3 and its connection pool.

Features
========
* insert_many: one transaction, all or nothing (one INSERT from arrays); durable at COMMIT
  (``synchronous_commit`` as the server says for the API; workers write with it ``off``: a lost
  write after a server crash is a redelivery); one ``NOTIFY`` per batch with something due now
* claim_batch: one statement (``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``),
  an index range scan of the partial claim index per band of the claim order
  (``notifyctl.claim_order``), no sort of the table
* claim_ids: one statement; exhausted ids are buried here too
* finish_and_claim_ids: one transaction for both (one commit)
* renew, finish: one statement per batch (joined to ``unnest`` of the batch), fenced per claim on
  ``(locked_by, lock_version)``
* whose clock: the server's (``statement_timestamp()``, see ``clock.py``); a caller's ``now`` is
  used only as a difference (a retry's backoff)
* time precision: 1 ms (``bigint`` epoch milliseconds)
* hosts: many (every host that reaches the server)
* dead-letter outbox: ``dead_letter_at`` with a partial index, a token per take
* purge_terminal: one statement per batch, a range of a partial index of the terminal rows
* schema: created and migrated at start-up (``schema_version``); a newer schema is refused
* wake-ups without a broker: workers ``LISTEN`` on a connection of their own (``wakeups.py``)

Layout (the same file names as ``store/sqlite/``, plus PostgreSQL's own parts): ``store.py``
(``PostgresStore``: the port, and the connection or transaction each call runs in),
``connection.py`` (the pool, the start-up wait, driver errors to ``StoreError``), ``schema.py``
(tables and indexes, migration 1), ``migrations.py`` (the schema's versions), ``inserts.py``
(``insert_many`` and its NOTIFY), ``leases.py`` (claims, renewals, fenced outcomes in SQL),
``ops.py`` (operators' queries), ``dead_letters.py`` (the outbox), ``workers.py`` (the workers'
rows), ``keys.py`` (the API keys' rows), ``limits.py`` (each tenant's limits and quota usage),
``recipients.py`` (each tenant's recipients), ``templates.py`` (each tenant's templates),
``retention.py`` (the purge of old terminal rows and its index), ``breakers.py`` (each
destination's circuit breaker), ``secrets.py`` (each tenant's signing secrets), ``pool.py``
(pool size and statistics), ``clock.py`` (whose clock), ``wakeups.py`` (LISTEN).
"""

from notifyctl.store.postgresql.store import PostgresStore

__all__ = ["PostgresStore"]
