"""Each process's Prometheus metrics, in a registry of its own.

``base.py`` holds what every process exports (HTTP requests, store calls, the store pool, the
broker, ``monitoring_errors_total``) and the parts metrics are built from (``LoopHistogram``,
``Sampled``); ``api.py`` and ``worker.py`` add each role's own. Recording a metric never breaks the
work: a failure counts in ``monitoring_errors_total``.
"""

from notifyctl.metrics.api import ApiMetrics
from notifyctl.metrics.base import LoopHistogram, Metrics, Sampled
from notifyctl.metrics.worker import WorkerMetrics

__all__ = ["ApiMetrics", "LoopHistogram", "Metrics", "Sampled", "WorkerMetrics"]
