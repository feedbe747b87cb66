"""The notifications outbox against the real records DB: once-only sending and both failure rules."""

from __future__ import annotations

import pytest
from trainset import outbox


class Endpoint:
    """A recipient that fails the first ``fail`` sends (as an outage does)."""

    def __init__(self, fail: int = 0) -> None:
        self.fail, self.sent = fail, []

    def __call__(self, row: dict) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("slack is down")
        self.sent.append((row["recipient"], row["payload"]["text"]))


def _status(conn, key):
    with conn.cursor() as cur:
        cur.execute("SELECT status, attempts, last_error FROM notifications WHERE dedupe_key = %s", (key,))
        return cur.fetchone()


def test_send_once_sends_one_message_however_often_it_runs(records):
    endpoint = Endpoint()
    for _ in range(3):
        outbox.send_once(records, "t:missing:2026-12-01:w1", "slack_dm", "U123", {"text": "hi"}, endpoint)
    assert endpoint.sent == [("U123", "hi")]
    assert _status(records, "t:missing:2026-12-01:w1")[:2] == ("sent", 1)


def test_raise_records_the_error_and_the_retry_sends_it(records):
    endpoint = Endpoint(fail=1)
    with pytest.raises(ConnectionError):
        outbox.send_once(records, "t:report:2026-12-01", "email", "pm@x", {"text": "r"}, endpoint)
    status, attempts, error = _status(records, "t:report:2026-12-01")
    assert (status, attempts) == ("failed", 1) and "slack is down" in error
    assert outbox.send_once(records, "t:report:2026-12-01", "email", "pm@x", {"text": "r"}, endpoint) == "sent"
    assert _status(records, "t:report:2026-12-01")[:2] == ("sent", 2)


def test_record_retries_with_backoff_then_goes_on(records):
    with records.cursor() as cur:
        for n in range(3):
            outbox.enqueue(cur, f"t:rework:{n}", "slack_channel", "#labeling", {"text": f"m{n}"})
        outbox.enqueue(cur, "other:0", "slack_channel", "#labeling", {"text": "not mine"})
    records.commit()
    endpoint, pauses = Endpoint(fail=3), []
    done = outbox.send_pending(records, endpoint, prefix="t:rework:", on_failure="record", max_attempts=3,
                               retry_delay_s=2, sleep=pauses.append)
    assert pauses == [2, 4]  # three tries for the first message, exponential back-off between them
    assert done.failed == ["t:rework:0"] and done.sent == ["t:rework:1", "t:rework:2"] and done.attempts == 5
    assert _status(records, "other:0")[0] == "pending"  # another sender's messages are not touched
    again = outbox.send_pending(records, endpoint, prefix="t:rework:", on_failure="record")
    assert again.sent == ["t:rework:0"] and [t for _, t in endpoint.sent] == ["m1", "m2", "m0"]


def test_prefix_wildcards_are_literal(records):
    with records.cursor() as cur:
        outbox.enqueue(cur, "a_b:1", "email", "x", {"text": "1"})
        outbox.enqueue(cur, "axb:1", "email", "x", {"text": "2"})
    records.commit()
    assert outbox.send_pending(records, Endpoint(), prefix="a_b:").sent == ["a_b:1"]
