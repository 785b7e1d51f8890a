"""The RabbitMQ adapter's outbox and confirm window, alone: every message that carries a settler
hears exactly one answer, whatever becomes of it."""

from __future__ import annotations

import threading

from notifyctl.broker.rabbitmq.outbox import Confirmations, Message, Outbox


def messages(answers: Confirmations, count: int) -> list[Message]:
    return [Message("x", "", b"{}", settle=answers.settler(i)) for i in range(count)]


def publish_all(outbox: Outbox) -> list[int]:
    """Take everything waiting as if published, with tags 1, 2, ...; returns the tags."""
    tags = []
    while outbox.take(len(tags) + 1, now=100.0) is not None:
        tags.append(len(tags) + 1)
    return tags


def test_each_message_is_answered_by_its_own_confirm_or_nack() -> None:
    outbox, answers = Outbox(limit=10), Confirmations(3)
    outbox.add(messages(answers, 3))
    assert publish_all(outbox) == [1, 2, 3]
    outbox.confirm(2, multiple=False, acked=False)
    outbox.confirm(3, multiple=True, acked=True)  # answers 1 and 3; 2 was answered already
    assert answers.wait(0) == [True, False, True]
    counts = outbox.counters()
    assert (counts["publish_confirmed"], counts["publish_nacked"]) == (2, 1)
    assert len(outbox) == 0


def test_dropped_expired_lost_and_discarded_messages_are_answered_false() -> None:
    outbox, answers = Outbox(limit=3), Confirmations(4)
    batch = messages(answers, 4)
    outbox.add(batch[:3])
    outbox.add(batch[3:])  # no room: dropped, never waited for
    outbox.take(1, now=100.0)
    outbox.take(2, now=200.0)
    outbox.expire(published_before=150.0)  # tag 1 never confirmed in time
    outbox.lose_unconfirmed()  # tag 2: its channel is gone
    outbox.discard()  # the third still waited at close
    assert answers.wait(0) == [False, False, False, False]
    counts = outbox.counters()
    assert counts["publish_dropped"] == counts["publish_timeouts"] == 1
    assert counts["publish_unconfirmed"] == 1


def test_a_late_answer_after_the_wait_gave_up_changes_nothing() -> None:
    answers = Confirmations(1)
    assert answers.wait(0) == [False]
    answers.settler(0)(True)
    answers.settler(0)(False)
    assert answers.wait(0) == [True]  # the first answer stands


def test_the_publisher_waits_for_answers_given_on_another_thread() -> None:
    answers = Confirmations(2)
    settlers = [answers.settler(0), answers.settler(1)]
    threading.Thread(target=lambda: [settle(True) for settle in settlers]).start()
    assert answers.wait(30) == [True, True]
