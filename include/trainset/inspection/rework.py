"""Rework notices: one Slack bot message per labeler listing their items the inspectors failed, with comments.

Two steps, so a notice is never lost and never sent twice:

1. ``plan_notices`` groups the annotation failures that have no notice yet by labeler and enqueues one message
   per group in the notifications outbox (``trainset.outbox``; the dedupe key is the labeler plus a hash of the
   items), and links the failures to it in the same transaction;
2. ``send_pending`` sends every unsent rework notice through the outbox with its ``record`` rule: an outage is
   retried with backoff; a notice that still cannot be sent stays recorded as failed (with the error) and goes
   out on a later run.  Nothing here raises for a Slack outage: the transfer and the verdicts are never held back
   by Slack.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from trainset import db, outbox
from trainset.config import ProjectConfig
from trainset.step import StepContext, StepResult

log = logging.getLogger(__name__)

DEDUPE_PREFIX = "inspection_rework:"
MAX_LISTED = 40  # items spelled out in one message; the rest are counted (Slack messages stay readable)

# post(channel, text) sends one message; it raises on any failure (HTTP error, ok=false).
Poster = Callable[[str, str], None]


@dataclass
class NoticeResult:
    planned: int = 0
    sent: int = 0
    failed: int = 0
    attempts: int = 0
    recipients: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"rework notices: {self.planned} new, {self.sent} sent, {self.failed} still failing "
                f"({self.attempts} attempts); recipients {', '.join(self.recipients) or 'none'}")


def _message(name: str, items: list[dict]) -> str:
    lines = [f":warning: *재작업 요청 (검수 불합격)* — {name}: {len(items)} item(s) failed inspection and are back in "
             f"your rework queue."]
    for it in items[:MAX_LISTED]:
        codes = ", ".join(it["codes"]) or "annotation"
        comment = f" — “{it['comment']}”" if it.get("comment") else ""
        who = f" ({it['inspector']})" if it.get("inspector") else ""
        lines.append(f"• `{it['item_key']}` {it['day']} [{codes}]{comment}{who}")
    if len(items) > MAX_LISTED:
        lines.append(f"… and {len(items) - MAX_LISTED} more")
    return "\n".join(lines)


def plan_notices(conn, config: ProjectConfig) -> int:
    """Record one pending notice per labeler for the annotation failures not noticed yet; returns how many."""
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, """
            SELECT r.item_key, r.inspected_on, r.reason_codes, r.comment, r.inspector, r.worker_id,
                   w.name AS worker_name, w.slack_user_id
            FROM inspection_rework r LEFT JOIN workers w ON w.worker_id = r.worker_id
            WHERE r.routed_to = 'labeler' AND r.notification_id IS NULL
            ORDER BY r.worker_id NULLS LAST, r.inspected_on, r.item_key""")
    groups: dict[str | None, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["worker_id"]].append(r)
    planned = 0
    for worker_id, group in groups.items():
        first = group[0]
        items = [{"item_key": r["item_key"], "day": r["inspected_on"].isoformat(), "codes": list(r["reason_codes"]),
                  "comment": r["comment"], "inspector": r["inspector"]} for r in group]
        digest = hashlib.sha256(json.dumps(sorted((i["item_key"], i["day"]) for i in items)).encode()).hexdigest()
        dedupe = f"{DEDUPE_PREFIX}{worker_id or '-'}:{digest[:20]}"
        if first["slack_user_id"]:
            channel, recipient, name = "slack_dm", first["slack_user_id"], first["worker_name"] or worker_id
        else:
            # No Slack id on the roster: the team channel, naming the labeler so the PM can forward it.
            channel, recipient = "slack_channel", config.slack.labeling
            name = first["worker_name"] or worker_id or "(labeler unknown)"
        payload = {"worker_id": worker_id, "items": items, "text": _message(name, items)}
        with conn.cursor() as cur:
            notification_id, _, created = outbox.enqueue(cur, dedupe, channel, recipient, payload)
            planned += created
            db.execute_batch(cur, """UPDATE inspection_rework r SET notification_id = v.nid::bigint
                                     FROM (VALUES %s) AS v(item_key, day, nid)
                                     WHERE r.item_key = v.item_key AND r.inspected_on = v.day::date""",
                             [(r["item_key"], r["inspected_on"], notification_id) for r in group])
    return planned


def send_pending(conn, config: ProjectConfig, post: Poster, *, sleep: Callable[[float], None] = time.sleep,
                 result: NoticeResult | None = None) -> NoticeResult:
    """Send every pending or failed rework notice; an outage is retried, then recorded (never raised)."""
    result = result or NoticeResult()
    settings = config.inspection
    done = outbox.send_pending(conn, outbox.slack_deliver(post), prefix=DEDUPE_PREFIX, on_failure="record",
                               max_attempts=settings.notice_max_attempts,
                               retry_delay_s=settings.notice_retry_delay_s, sleep=sleep)
    result.sent += len(done.sent)
    result.failed += len(done.failed)
    result.attempts += done.attempts
    result.recipients += done.recipients
    return result


def notify_rework(conn, config: ProjectConfig, post: Poster, *, sleep: Callable[[float], None] = time.sleep) \
        -> NoticeResult:
    result = NoticeResult(planned=plan_notices(conn, config))
    return send_pending(conn, config, post, sleep=sleep, result=result)


def rework_step(ctx: StepContext) -> StepResult:
    """The ``validation_labeling`` task: plan and send the rework notices over ``ctx.slack`` (never fails on a
    Slack outage: what could not be sent is recorded and goes out on the next run)."""
    result = notify_rework(ctx.conn, ctx.config, ctx.slack)
    warnings = []
    if result.failed:
        warnings.append(f"{result.failed} rework notice(s) could not be sent now; they stay recorded as failed and "
                        "are sent on the next run")
    return StepResult(summary=result.summary(), warnings=warnings,
                      xcom={"planned": result.planned, "sent": result.sent, "failed": result.failed})
