"""``notifyctl api``: the HTTP intake (Starlette on Hypercorn).

``app.py`` holds the handlers, routes and the server; ``io.py`` reads requests and shapes
responses; ``guard.py`` is the front door (``apikeys.py``, then ``ratelimit.py``);
``problems.py`` writes errors as the contract does; ``group_commit.py`` lets single inserts share
one commit; ``intake_dns.py`` checks webhook hosts at intake; ``openapi.py`` is the document.
"""

from notifyctl.api.app import build_app, serve_api

__all__ = ["build_app", "serve_api"]
