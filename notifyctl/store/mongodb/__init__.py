"""The shared store for many hosts: MongoDB through the pymongo driver.

Features
========
* insert_many: one unordered insert; atomic and durable per notification (per the URL's write
  concern), not all or nothing; retryable writes make a retry after a failover insert nothing
  twice, and the unique idempotency index decides replays and conflicts
* claim_batch: one ``find_one_and_update`` per notification, and one empty query per level of
  the claim order (``notifyctl.claim_order``)
* claim_ids: two round trips however many ids (``update_many`` with a claim token, a read-back);
  exhausted ids are buried here too
* finish_and_claim_ids: two operations (the outcomes' bulk write, then ``claim_ids``)
* renew, finish: one bulk write each, fenced per claim on ``(locked_by, lock_version)``; a
  read-back only when some were refused
* whose clock: the server's (``$$NOW``, see ``clock.py``); a caller's ``now`` is used only as a
  difference (a retry's backoff)
* time precision: 1 ms (BSON dates)
* hosts: many (a replica set or a sharded cluster)
* dead-letter outbox: ``dead_letter_at`` with a partial index
* purge_terminal: a find of up to ``limit`` ids, then one ``delete_many`` (beside the TTL index)

Layout (the same file names as ``store/sqlite/``, plus MongoDB's own parts): ``store.py``
(``MongoStore``: the port, each call inside the error translation), ``connection.py`` (the
client, the start-up wait, driver errors to ``StoreError``), ``schema.py`` (documents, indexes,
conversions), ``leases.py`` (claims, renewals, fenced outcomes), ``ops.py`` (operators'
queries), ``dead_letters.py`` (the outbox), ``workers.py`` (the workers' documents), ``keys.py``
(the API keys' documents), ``limits.py`` (each tenant's limits and quota usage),
``recipients.py`` (each tenant's recipients), ``templates.py`` (each tenant's templates),
``retention.py`` (the purge of old terminal documents), ``breakers.py`` (each destination's
circuit breaker),
``pool.py`` (pool size and statistics), ``writes.py`` (the pure update documents), ``clock.py``
(whose clock).
"""

from notifyctl.store.mongodb.store import MongoStore

__all__ = ["MongoStore"]
