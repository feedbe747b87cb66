"""The upload check at the due time (task group ``labeling_finished``): the day's assignments against what each
worker uploaded, and one Slack message per worker with missing items, sent once through the outbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from trainset import outbox
from trainset.annotate.readers import parse_files
from trainset.annotate.uploads import read_upload, upload_prefix
from trainset.annotate.warehouse import ORIGINAL_STEM_SQL
from trainset.config import ProjectConfig
from trainset.db import fetch_dicts
from trainset.step import StepContext, StepResult
from trainset.storage import Storage


def labels_in(labeling: Storage, day: dt.date, worker_id: str, config: ProjectConfig):
    """A worker's upload for ``day`` read and parsed: ``(parsed labels, upload problems)``."""
    files, problems = read_upload(labeling, upload_prefix(day, worker_id), config)
    parsed = parse_files([(f.name, f.data, f.source_uri) for f in files],
                         class_order=[c.name for c in sorted(config.classes, key=lambda c: c.id)],
                         max_bytes=config.annotate.label_max_bytes)
    return parsed, problems


def check_uploads(conn, config: ProjectConfig, labeling: Storage, day: dt.date) -> dict[str, dict]:
    """Assignments due on ``day`` against what each worker uploaded: {worker: {assigned, uploaded, missing}}."""
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, f"""
            SELECT a.assignment_id, a.worker_id, i.item_key,
                   {ORIGINAL_STEM_SQL} AS original_stem, w.name, w.slack_user_id
            FROM assignments a JOIN images i USING (image_id) JOIN workers w USING (worker_id)
            WHERE a.work_date = %s ORDER BY a.worker_id, i.item_key""", (day,))
        report: dict[str, dict] = {}
        uploaded_ids = []
        for worker_id in sorted({r["worker_id"] for r in rows}):
            parsed, _ = labels_in(labeling, day, worker_id, config)
            keys = {p.item_key for p in parsed}
            mine = [r for r in rows if r["worker_id"] == worker_id]
            # A label named after the photo's pre-rename name counts as uploaded (refinement remedies repair it).
            missing = [r["item_key"] for r in mine if r["item_key"] not in keys and r["original_stem"] not in keys]
            uploaded_ids += [r["assignment_id"] for r in mine if r["item_key"] in keys or r["original_stem"] in keys]
            report[worker_id] = {"name": mine[0]["name"], "slack_user_id": mine[0]["slack_user_id"],
                                 "assigned": len(mine), "uploaded": len(mine) - len(missing), "missing": missing,
                                 "upload_to": labeling.child_uri(upload_prefix(day, worker_id)) + "/"}
        if uploaded_ids:
            cur.execute("UPDATE assignments SET status = 'uploaded' WHERE assignment_id = ANY(%s) "
                        "AND status = 'assigned'", (uploaded_ids,))
    return report


def missing_message(config: ProjectConfig, day: dt.date, name: str, missing: list[str], upload_to: str | None = None,
                    limit: int = 30) -> str:
    due = config.schedules.labeling_upload_due.strftime("%H:%M")
    shown = "\n".join(f"• {key}" for key in missing[:limit])
    more = f"\n… 외 {len(missing) - limit}건" if len(missing) > limit else ""
    where = upload_to or f"labeling/{upload_prefix(day)}/<worker_id>/"
    return (f":warning: {name}님, {day.isoformat()} 라벨링 마감({due}) 기준 미제출 {len(missing)}건이 있습니다 "
            f"(missing uploads for {day}).\n{shown}{more}\n업로드 위치 (upload to): {where}")


def notify_missing(conn, config: ProjectConfig, day: dt.date, report: dict[str, dict],
                   send: Callable[[str, str], None] | None, *, dry_run: bool = False) -> dict:
    """One Slack message per worker with missing items, sent once through the outbox (``trainset.outbox``; a
    re-run sends nothing new).  ``send(channel, text)`` raises on failure: the attempt is recorded and the error
    re-raised, so the task retries and the message goes out then."""
    sent, skipped = [], []
    for worker_id, info in sorted(report.items()):
        if not info["missing"]:
            continue
        if dry_run or send is None:
            skipped.append(worker_id)
            continue
        channel = info["slack_user_id"] or config.slack.labeling
        text = missing_message(config, day, info["name"], info["missing"], info.get("upload_to"))
        status = outbox.send_once(
            conn, f"annotate:missing_upload:{day.isoformat()}:{worker_id}",
            "slack_dm" if info["slack_user_id"] else "slack_channel", channel,
            {"text": text, "worker_id": worker_id, "missing": info["missing"]}, outbox.slack_deliver(send),
            on_failure="raise")
        (sent if status == "sent" else skipped).append(worker_id)
    return {"sent": sent, "already_sent_or_dry_run": skipped, "failed": []}


def upload_check_step(ctx: StepContext) -> StepResult:
    """``labeling_finished.check_uploads``: the upload check and the missing-upload messages (``notify`` off, or
    no Slack sender: report only)."""
    day = ctx.work_date
    report = check_uploads(ctx.conn, ctx.config, ctx.storages.labeling, day)
    notify = bool(ctx.arg("notify", True))
    sent = notify_missing(ctx.conn, ctx.config, day, report, ctx.slack, dry_run=not notify)
    summary = (f"missing-upload messages: sent to {sent['sent'] or 'nobody'}; not sent again (already sent or "
               f"notify off): {sent['already_sent_or_dry_run'] or 'nobody'}")
    details = [f"{worker_id}: {info['assigned']} assigned, {info['uploaded']} uploaded, {len(info['missing'])} missing"
               for worker_id, info in report.items()]
    warnings = ["notify is on but no Slack sender was given: nothing sent"] if notify and ctx.slack is None else []
    return StepResult(summary, xcom={"work_date": day.isoformat(), "workers": report, **sent}, details=details,
                      warnings=warnings)
