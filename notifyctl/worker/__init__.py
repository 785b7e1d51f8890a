"""``notifyctl worker --id N``: claim due notifications, deliver many at once, record outcomes.

``worker.py`` is the worker and its loops; ``claiming.py`` the store sweep and the broker's
wake-ups (``wakeups.py``); ``inflight.py`` the deliveries in flight; ``outcomes.py`` the outcomes
on their way to the store; ``deadletters.py`` the dead-letter publisher; ``monitor.py`` the
monitoring server (``/health``, ``/metrics``, ``/resources``, ``/stats``); ``process.py`` the
process around them.
"""

from notifyctl.worker.process import serve_worker
from notifyctl.worker.worker import Worker

__all__ = ["Worker", "serve_worker"]
