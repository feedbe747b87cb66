"""The notifications outbox: every message the pipeline sends (Slack DMs and channel posts, e-mails) goes out once.

A message is first written to ``notifications`` under a **dedupe key** that names what it is about (a worker and
day, a labeler's spell below target, a group of rework items, a report day); a re-run finds the row and sends
nothing new.  Sending records the outcome row by row, committed after each message: a message out is a fact that
must survive a later failure of the same task.  What a failed send does is the caller's rule:

- ``on_failure="raise"``: record the error and re-raise (the task retries and the message goes out then);
- ``on_failure="record"``: retry ``max_attempts`` times with exponential back-off, record the error, go on
  (a Slack outage must not fail the stage; the next run sends what is still pending).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from trainset.db import fetch_dicts

log = logging.getLogger(__name__)

OnFailure = Literal["raise", "record"]
# ``deliver(row)`` sends one outbox row (``recipient``, ``channel``, ``payload``); it raises on failure.
Deliver = Callable[[dict], None]


@dataclass
class Delivery:
    """What one sending pass did (keys are the rows' dedupe keys)."""

    sent: list[str] = field(default_factory=list)
    already_sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    attempts: int = 0
    recipients: list[str] = field(default_factory=list)


def slack_channel_kind(recipient: str) -> str:
    """A Slack user id (``U…``/``W…``) is a DM; anything else is a channel."""
    return "slack_dm" if recipient[:1] in ("U", "W") and not recipient.startswith("#") else "slack_channel"


def enqueue(cur, dedupe_key: str, channel: str, recipient: str, payload: dict) -> tuple[int, str, bool]:
    """The row for ``dedupe_key`` (created as ``pending`` when absent): ``(notification_id, status, created)``."""
    cur.execute("""INSERT INTO notifications (dedupe_key, channel, recipient, payload) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (dedupe_key) DO NOTHING RETURNING notification_id""",
                (dedupe_key, channel, recipient, json.dumps(payload, ensure_ascii=False, default=str)))
    got = cur.fetchone()
    if got is not None:
        return got[0], "pending", True
    cur.execute("SELECT notification_id, status FROM notifications WHERE dedupe_key = %s", (dedupe_key,))
    nid, status = cur.fetchone()
    return nid, status, False


def pending(cur, *, prefix: str | None = None, keys: Sequence[str] | None = None) -> list[dict]:
    """Rows not sent yet (pending or failed), oldest first, locked for this pass (another runner skips them)."""
    where, params = ["status <> 'sent'"], []
    if prefix is not None:
        where.append("dedupe_key LIKE %s")
        params.append(prefix.replace("%", r"\%").replace("_", r"\_") + "%")
    if keys is not None:
        where.append("dedupe_key = ANY(%s)")
        params.append(list(keys))
    return fetch_dicts(cur, f"""SELECT notification_id, dedupe_key, channel, recipient, payload, status
                                FROM notifications WHERE {' AND '.join(where)}
                                ORDER BY notification_id FOR UPDATE SKIP LOCKED""", params)


def _record(cur, notification_id: int, tries: int, error: str | None) -> None:
    if error is None:
        cur.execute("""UPDATE notifications SET status = 'sent', sent_at = now(), attempts = attempts + %s,
                       last_error = NULL WHERE notification_id = %s""", (tries, notification_id))
    else:
        cur.execute("""UPDATE notifications SET status = 'failed', attempts = attempts + %s, last_error = %s
                       WHERE notification_id = %s""", (tries, error[:1000], notification_id))


def _attempt(row: dict, deliver: Deliver, max_attempts: int, retry_delay_s: float,
             sleep: Callable[[float], None]) -> tuple[int, str | None, BaseException | None]:
    """Try to deliver ``row`` up to ``max_attempts`` times: ``(tries, error text, last exception)``."""
    for attempt in range(1, max_attempts + 1):
        try:
            deliver(row)
            return attempt, None, None
        except Exception as err:  # noqa: BLE001 - any failure of the endpoint is recorded; the caller's rule decides
            error = f"{type(err).__name__}: {err}"
            log.warning("notification %s to %s, attempt %d/%d: %s", row["dedupe_key"], row["recipient"], attempt,
                        max_attempts, error)
            if attempt == max_attempts:
                return attempt, error, err
            sleep(retry_delay_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def send_pending(conn, deliver: Deliver, *, prefix: str | None = None, keys: Sequence[str] | None = None,
                 on_failure: OnFailure = "raise", max_attempts: int = 1, retry_delay_s: float = 0.0,
                 sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """Send every unsent row under ``prefix`` (or with one of ``keys``), committing after each."""
    result = Delivery()
    if keys is not None:
        with conn.cursor() as cur:
            cur.execute("SELECT dedupe_key FROM notifications WHERE dedupe_key = ANY(%s) AND status = 'sent'",
                        (list(keys),))
            result.already_sent = sorted(r[0] for r in cur.fetchall())
    with conn.cursor() as cur:
        rows = pending(cur, prefix=prefix, keys=keys)
    for row in rows:
        tries, error, err = _attempt(row, deliver, max_attempts, retry_delay_s, sleep)
        result.attempts += tries
        with conn.cursor() as cur:
            _record(cur, row["notification_id"], tries, error)
        conn.commit()
        if error is None:
            result.sent.append(row["dedupe_key"])
            result.recipients.append(row["recipient"])
            continue
        result.failed.append(row["dedupe_key"])
        if on_failure == "raise":
            raise err
    return result


def send_once(conn, dedupe_key: str, channel: str, recipient: str, payload: dict, deliver: Deliver, *,
              on_failure: OnFailure = "raise") -> str:
    """Enqueue one message and send it unless it went out before: ``"sent"``, ``"already_sent"`` or ``"failed"``
    (``on_failure="record"`` only; with ``"raise"`` the error is recorded and raised)."""
    with conn.cursor() as cur:
        _, status, _ = enqueue(cur, dedupe_key, channel, recipient, payload)
    conn.commit()  # the outbox row exists before the message goes out
    if status == "sent":
        return "already_sent"
    done = send_pending(conn, deliver, keys=[dedupe_key], on_failure=on_failure)
    if dedupe_key in done.sent:
        return "sent"
    return "failed" if dedupe_key in done.failed else "already_sent"  # another runner holds or sent it


def slack_deliver(send: Callable[[str, str], None]) -> Deliver:
    """A ``Deliver`` for Slack rows: ``send(recipient, payload["text"])``."""
    return lambda row: send(row["recipient"], row["payload"]["text"])


def slack_client_sender(client) -> Callable[[str, str], None]:
    """``send(recipient, text)`` over a slack_sdk ``WebClient`` (the Airflow layer's is ``SlackHook(...).client``)."""

    def send(recipient: str, text: str) -> None:
        response = client.chat_postMessage(channel=recipient, text=text, mrkdwn=True)
        if not response.get("ok", False):  # WebClient raises on ok=false already; be explicit for other clients
            raise RuntimeError(f"Slack answered {response.get('error')}")

    return send
