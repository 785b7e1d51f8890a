"""The store port, each tenant's templates (``notifyctl/templates.py``; adapters:
``sqlite/templates.py``, ``mongodb/templates.py``): the API and ``templates push``."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from notifyctl.templates import TemplateRecord


class TemplateStore(Protocol):
    """Each tenant's templates by name, with a version per replace."""

    def put_template(self, tenant_id: str, name: str, document: dict[str, Any], now: int) -> bool:
        """Store the tenant's template ``name`` (a document ``Template.parse`` accepted; the
        store does not check it), atomically: created at ``now`` with version 1 (True), or
        replacing the stored document with its version one more and ``updated_at`` = ``now``
        (False). Two puts at once never both create, and each replace counts."""
        ...

    def get_template(self, tenant_id: str, name: str) -> TemplateRecord | None:
        """The tenant's template ``name``, or None: another tenant's is None exactly as an
        unknown one. A primary-key look-up."""
        ...

    def delete_template(self, tenant_id: str, name: str) -> bool:
        """Remove the tenant's template ``name``, atomically; False when it had none. A template
        created again after a delete starts again at version 1 (with a new ``created_at``), so a
        cache compares both."""
        ...

    def list_templates(
        self, tenant_id: str, limit: int, after_name: str | None
    ) -> list[TemplateRecord]:
        """Up to ``limit`` of the tenant's templates by name, only those named after
        ``after_name`` (the cursor: the last name of the previous page). An index range scan."""
        ...

    def templates_by_names(
        self, tenant_id: str, names: Collection[str]
    ) -> dict[str, TemplateRecord]:
        """The tenant's templates of these names, by name, in one query (the delivery path's
        per-batch load); a name the tenant has no template of is simply absent."""
        ...
