"""Gating labelers (tasks ``quality_gate`` and ``quality_notify``): the GX suite ``labeler_quality`` judges each
labeler's rolling GT accuracy; a labeler below target is gated (every item of theirs fully inspected) with one
message to the PM per gated spell, sent through the outbox (``trainset.outbox``), and lifted when the score
recovers; a labeler whose window holds too few GT boxes is not judged and keeps their state.

Light on imports: the DAG file reads ``GATING_SQL`` / ``GATING_SUITE`` / ``gating_parameters`` at parse time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from trainset import outbox
from trainset.config import ProjectConfig
from trainset.db import fetch_dicts
from trainset.step import StepContext, StepResult

GATING_SUITE = "labeler_quality"
GATING_SQL = ("SELECT worker_id, judged_accuracy, rolling_accuracy, rolling_gt_boxes FROM quality_labeler_daily "
              "WHERE work_date = %(day)s ORDER BY worker_id")
GATED_PREFIX = "quality:gated:"  # the outbox's dedupe keys: quality:gated:<worker>:<first day of the spell>


def gating_parameters(config: ProjectConfig, **_template_context) -> dict:
    """The gating suite's thresholds from the project file."""
    return {"accuracy_target": float(config.quality.accuracy_target)}


def gating_message(config: ProjectConfig, worker: str, name: str, accuracy: float, day: dt.date) -> str:
    q = config.quality
    return (f"[{config.project.code}] 품질관리: {name} ({worker}) rolling GT accuracy {accuracy:.1%} over "
            f"{q.rolling_days} days is below the target {q.accuracy_target:.0%} on {day.isoformat()}. "
            f"Every item of theirs is now fully inspected until the score recovers.")


def verdicts_from_outcome(conn, outcome, day: dt.date) -> dict[str, bool]:
    """worker -> below target (True) / at or above (False), for the labelers the window lets us judge."""
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, "SELECT worker_id, judged_accuracy FROM quality_labeler_daily WHERE work_date = %s",
                           (day,))
    return {r["worker_id"]: "below_accuracy_target" in outcome.failures.get(r["worker_id"], [])
            for r in rows if r["judged_accuracy"] is not None}


def judge_gating(conn, config: ProjectConfig, day: dt.date) -> dict[str, bool]:
    """Run the gating suite in memory (what the DAG's GX task does) and return the verdicts."""
    import pandas as pd

    from trainset.expectations import validate_dataframe

    with conn.cursor() as cur:
        rows = fetch_dicts(cur, GATING_SQL, {"day": day})
    if not rows:
        return {}
    outcome = validate_dataframe(pd.DataFrame(rows), GATING_SUITE, id_column="worker_id",
                                 parameters=gating_parameters(config))
    return verdicts_from_outcome(conn, outcome, day)


def record_gating(conn, outcome, *, run_id: str, batch_id: str, config: ProjectConfig) -> dict:
    """``record_with`` for the GX task (which hands it the run's ``config``): gate / lift labelers from the
    suite's verdicts (messages stay pending in ``notifications`` until ``send_pending_gating``)."""
    day = dt.date.fromisoformat(batch_id.rsplit("__", 1)[-1])
    return update_gating(conn, config, day, verdicts_from_outcome(conn, outcome, day), None)


def _gate(cur, config: ProjectConfig, worker: str, name: str, rolling_accuracy: float, day: dt.date) -> None:
    """Gate ``worker`` from ``day`` and queue the PM's message for the spell (once: its outbox key)."""
    recipient = config.quality.pm_slack or config.slack.alerts
    text = gating_message(config, worker, name, rolling_accuracy, day)
    nid, _, _ = outbox.enqueue(cur, f"{GATED_PREFIX}{worker}:{day.isoformat()}", outbox.slack_channel_kind(recipient),
                               recipient, {"text": text, "worker_id": worker, "rolling_accuracy": rolling_accuracy})
    cur.execute("""INSERT INTO quality_gating (worker_id, gated, since, lifted_on, rolling_accuracy,
                       notification_id) VALUES (%s, true, %s, NULL, %s, %s)
                   ON CONFLICT (worker_id) DO UPDATE SET gated = true, since = EXCLUDED.since,
                       lifted_on = NULL, rolling_accuracy = EXCLUDED.rolling_accuracy,
                       notification_id = EXCLUDED.notification_id, updated_at = now()""",
                (worker, day, rolling_accuracy, nid))


def update_gating(conn, config: ProjectConfig, day: dt.date, verdicts: dict[str, bool],
                  send: Callable[[str, str], None] | None) -> dict:
    """Gate labelers judged below target (one PM message per spell, through the outbox), lift the ones judged at
    or above it; labelers not judged (too few GT boxes in the window) keep their state.  With ``send`` the
    messages go out now; without, they stay pending for ``send_pending_gating``."""
    gated, lifted, messages = [], [], []
    with conn.cursor() as cur:
        state = {r["worker_id"]: r for r in fetch_dicts(cur, "SELECT * FROM quality_gating")}
        names = {r["worker_id"]: r["name"] for r in fetch_dicts(cur, "SELECT worker_id, name FROM workers")}
        daily = {r["worker_id"]: r for r in fetch_dicts(cur, "SELECT worker_id, rolling_accuracy FROM "
                                                             "quality_labeler_daily WHERE work_date = %s", (day,))}
        for w, below in sorted(verdicts.items()):
            accuracy = daily[w]["rolling_accuracy"]
            now = state.get(w)
            if below and not (now and now["gated"]):
                _gate(cur, config, w, names.get(w, w), accuracy, day)
                gated.append(w)
            elif not below and now and now["gated"]:
                cur.execute("UPDATE quality_gating SET gated = false, lifted_on = %s, rolling_accuracy = %s, "
                            "updated_at = now() WHERE worker_id = %s", (day, accuracy, w))
                lifted.append(w)
            elif now:
                cur.execute("UPDATE quality_gating SET rolling_accuracy = %s, updated_at = now() WHERE worker_id = %s",
                            (accuracy, w))
        cur.execute("UPDATE quality_labeler_daily d SET gated = g.gated FROM quality_gating g "
                    "WHERE d.worker_id = g.worker_id AND d.work_date = %s", (day,))
    if send is not None:
        messages = send_pending_gating(conn, send)
    return {"gated": gated, "lifted": lifted, "messages_sent": messages}


def send_pending_gating(conn, send: Callable[[str, str], None]) -> list[str]:
    """Send the outbox's pending gating messages, each recorded as sent (committed) before the next, so a re-run
    sends none twice; a failed send is recorded and raised (the task retries).  Returns the workers messaged."""
    done = outbox.send_pending(conn, outbox.slack_deliver(send), prefix=GATED_PREFIX, on_failure="raise")
    return [key[len(GATED_PREFIX):].rsplit(":", 1)[0] for key in done.sent]


def gated_workers(conn) -> set[str]:
    """Labelers whose items must all be inspected (no sampling) today."""
    with conn.cursor() as cur:
        cur.execute("SELECT worker_id FROM quality_gating WHERE gated")
        return {r[0] for r in cur.fetchall()}


def gating_notify_step(ctx: StepContext) -> StepResult:
    """``labeling_refinement_validation.quality_notify``: the pending gating messages to the PM (``notify`` off:
    they stay pending in ``notifications``)."""
    if not ctx.arg("notify", True):
        return StepResult("notify off: gating messages stay pending", xcom=[])
    if ctx.slack is None:
        return StepResult("no Slack sender: gating messages stay pending", xcom=[])
    sent = send_pending_gating(ctx.conn, ctx.slack)
    return StepResult(f"gating messages sent for {sent or 'nobody'}", xcom=sent)
