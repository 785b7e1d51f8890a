"""The store port, each tenant's recipients (``notifyctl/recipients.py``; adapters:
``sqlite/recipients.py``, ``mongodb/recipients.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from notifyctl.recipients import Recipient


class RecipientStore(Protocol):
    """Keyed by (tenant, user_id): a tenant never reads, lists, changes or deletes another's."""

    def put_recipient(self, recipient: Recipient) -> tuple[Recipient, bool]:
        """Create the recipient or replace the tenant's one with that user id, atomically.
        A replacement keeps the replaced one's ``created_at``. Every write to a recipient (this,
        ``replace_recipient``, ``remove_device_tokens``) adds one to its ``revision`` (1 when
        created). Returns the recipient as stored and whether it was created."""
        ...

    def replace_recipient(self, recipient: Recipient, revision: int) -> Recipient | None:
        """Replace the tenant's recipient with ``recipient`` only while the stored one is at
        ``revision`` (a PATCH's read-merge-write), atomically; the recipient as stored, or None
        when it changed or went meanwhile (nothing written)."""
        ...

    def put_recipients(self, recipients: Sequence[Recipient]) -> list[tuple[Recipient, bool]]:
        """``put_recipient`` for each, in order; the user ids are distinct (the caller sees to
        it). Each recipient is written atomically; SQLite writes them all in one transaction,
        MongoDB in one unordered bulk write (a failure may leave some written) and reads the
        written ones' ``created_at`` and ``revision`` back after it."""
        ...

    def get_recipient(self, tenant_id: str, user_id: str) -> Recipient | None:
        """The tenant's recipient, or None. A primary-key look-up."""
        ...

    def recipients_by_ids(self, tenant_id: str, user_ids: Sequence[str]) -> dict[str, Recipient]:
        """The tenant's recipients among ``user_ids``, by user id (unknown ones are absent), in
        one query (SQLite: one per 5,000 ids): the delivery path reads a message's recipients
        together."""
        ...

    def delete_recipient(self, tenant_id: str, user_id: str) -> bool:
        """Delete the tenant's recipient, atomically; False when it had none of that id."""
        ...

    def list_recipients(
        self, tenant_id: str, limit: int, after_user_id: str | None
    ) -> list[Recipient]:
        """Up to ``limit`` of the tenant's recipients by user id (code-point order), only those
        after ``after_user_id`` (the cursor: the last user id of the page before). An index
        range scan."""
        ...

    def remove_device_tokens(
        self, tenant_id: str, user_id: str, tokens: Sequence[str], now: int
    ) -> int:
        """Remove the recipient's devices holding any of ``tokens`` (APNs or FCM said they are
        no longer valid), in one atomic change that also sets ``updated_at`` to ``now``; a
        device added meanwhile under another token stays. Returns how many devices went (0
        for an unknown recipient, which stays unknown)."""
        ...
