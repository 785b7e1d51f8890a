"""The RabbitMQ broker (pika): one durable shared queue that every worker consumes.

Features
========
* wake-ups: publisher confirms, a priority queue (``x-max-priority`` 2), manual acks, prefetch
  ``PREFETCH_COUNT``; a wake-up lost costs latency, never data (the store sweep finds it)
* dead letters: to the group's ``<group>.dead-letters`` fanout exchange, with confirms; the
  durable copy is the store's outbox, cleared only once RabbitMQ confirmed
* the I/O thread: one pika ``SelectConnection`` on its own, supervised thread; an escaped error is
  a logged reconnect with backoff and jitter, and ``connected`` is false until a channel is ready

Layout: ``connection.py`` (``RabbitBroker``: the port, the connection's thread and its
supervision), ``topology.py`` (the exchanges, queues and bindings declared at each connect),
``outbox.py`` (messages waiting to be published, then waiting for their confirm).
"""

from notifyctl.broker.rabbitmq.connection import RabbitBroker

__all__ = ["RabbitBroker"]
