"""A worker without a channel a notification names: a known channel it lacks the settings for is
retried (another worker, or this one once configured, may deliver it), an unknown one is dead."""

from __future__ import annotations

from notifyctl.retry import ResultKind
from notifyctl.worker.verdicts import missing_channel


def test_a_known_channel_this_worker_lacks_is_retried_with_a_way_out() -> None:
    result = missing_channel("email", "host-1-2-abc")
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None
    assert "not configured on worker host-1-2-abc" in result.error
    assert "docs/channels.md" in result.error


def test_an_unknown_channel_is_permanent() -> None:
    result = missing_channel("pigeon", "host-1-2-abc")
    assert result.kind is ResultKind.PERMANENT and result.error == "unknown channel 'pigeon'"
