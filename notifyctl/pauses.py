"""Pause and resume (issue 17 item 4): what an operator can pause and what a pause holds back.
Pure.

An operator pauses a channel, a destination (``flow.destination_of``) or a tenant during an
incident. What is paused waits as ``paused`` (out of the claim order, so no worker claims it),
spends no attempt and loses nothing; resuming puts it back as it was, due when it was due.
Expiry still applies: a notification whose ``expires_at`` passed while it waited ends
``expired`` when it is claimed after the resume, never sent.

Where a pause is applied:
* ``notifyctl pause`` stores the pause, then moves what waits for it to ``paused`` in batches;
* every worker reads the pauses each second and parks what it claims that a pause matches (what
  the batches could not move: leased then, inserted meanwhile, or addressed at delivery time);
* ``notifyctl resume`` removes the pause and moves back every paused notification no remaining
  pause matches; a worker that parked one with a stale view of the pauses moves it back too, a
  few seconds after it sees the pause gone (``worker/pauses.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from notifyctl.errors import ConfigError
from notifyctl.flow import PROVIDER_DESTINATIONS, destination_of
from notifyctl.model import CHANNELS
from notifyctl.tenants import tenant_name

#: the longest value a pause may name (a destination is scheme://host:port)
MAX_VALUE = 300


class PauseKind(StrEnum):
    CHANNEL = "channel"
    DESTINATION = "destination"
    TENANT = "tenant"


@dataclass(frozen=True, slots=True)
class Pause:
    kind: PauseKind
    value: str
    #: when it was paused (epoch ms) and the operator's note (empty when none was given)
    created_at: int = 0
    reason: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.kind.value, self.value

    def __str__(self) -> str:
        return f"{self.kind.value} {self.value}"


def pause_of(kind: str, value: str, created_at: int = 0, reason: str = "") -> Pause:
    """A pause from an operator's words, its value in canonical form, or ConfigError saying what
    is wrong. A destination may be given as any URL on it (``https://Hooks.example.com/x``
    pauses ``https://hooks.example.com:443``) or as a provider (``smtp``, ``apns``, ...)."""
    try:
        pause_kind = PauseKind(kind)
    except ValueError:
        raise ConfigError(
            f"pause: unknown kind {kind!r}; use channel, destination or tenant"
        ) from None
    value = value.strip()
    if not value or len(value) > MAX_VALUE:
        raise ConfigError(f"pause: the {kind} must be 1 to {MAX_VALUE} characters")
    if pause_kind is PauseKind.CHANNEL and value not in CHANNELS:
        raise ConfigError(f"pause: unknown channel {value!r}; one of {', '.join(CHANNELS)}")
    if pause_kind is PauseKind.TENANT:
        try:
            value = tenant_name(value)
        except ValueError as exc:
            raise ConfigError(f"pause: {exc}") from None
    if pause_kind is PauseKind.DESTINATION:
        value = destination_value(value)
    return Pause(pause_kind, value, created_at, reason[:MAX_VALUE])


def destination_value(text: str) -> str:
    if "://" in text:
        canonical = destination_of("webhook", text)
        if canonical == "webhook":  # destination_of's answer for a URL it cannot read
            raise ConfigError(f"pause: {text!r} is not a URL a webhook could go to")
        return canonical
    providers = sorted(set(PROVIDER_DESTINATIONS.values()))
    if text not in providers:
        raise ConfigError(
            f"pause: destination {text!r} is neither a URL (https://host[:port]) nor a provider"
            f" ({', '.join(providers)})"
        )
    return text


class Addressed(Protocol):
    """What a pause looks at: a stored notification or a new one."""

    @property
    def channel(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def to(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Pauses:
    """Every pause in force, indexed for the worker's check of each claim."""

    channels: frozenset[str] = frozenset()
    destinations: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()

    @classmethod
    def of(cls, pauses: Iterable[Pause]) -> Pauses:
        found: dict[PauseKind, set[str]] = {kind: set() for kind in PauseKind}
        for pause in pauses:
            found[pause.kind].add(pause.value)
        return cls(
            frozenset(found[PauseKind.CHANNEL]),
            frozenset(found[PauseKind.DESTINATION]),
            frozenset(found[PauseKind.TENANT]),
        )

    def __len__(self) -> int:
        return len(self.channels) + len(self.destinations) + len(self.tenants)

    def holding(self, n: Addressed, destination: str | None = None) -> Pause | None:
        """The pause that holds ``n`` back, if any (the first that matches: channel, tenant,
        destination)."""
        if n.channel in self.channels:
            return Pause(PauseKind.CHANNEL, n.channel)
        if n.tenant_id in self.tenants:
            return Pause(PauseKind.TENANT, n.tenant_id)
        if self.destinations:
            where = destination or destination_of(n.channel, n.to)
            if where in self.destinations:
                return Pause(PauseKind.DESTINATION, where)
        return None
