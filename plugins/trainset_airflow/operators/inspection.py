"""The inspection stage's operators (thin over ``trainset.inspection``): verdict ingestion, rework notices on
Slack, the gallery of the day's failures, bulk fixes, and the ``inspection_passed`` Asset."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException
from trainset import figures
from trainset.config import get_config
from trainset.storage import publish_site

from trainset_airflow.assets import inspection_passed
from trainset_airflow.hooks import RecordsDbHook, s3_client, storage_for
from trainset_airflow.runday import run_day


def _flag(value) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


class VerdictIngestOperator(BaseOperator):
    """Read the server's verdict files not ingested yet, reject bad rows into quarantine with a reason, record
    the good ones and route failures (annotation → labeler rework queue, refinement/image → refine's queue).

    :param verdict_uri: where the verdict files are; default ``<storage.inspection_server>/<verdict_prefix>``.
    :param only_day: ingest only the file of this day (YYYY-MM-DD); default every new file.
    """

    template_fields: Sequence[str] = ("verdict_uri", "only_day")
    ui_color = "#e4f5e1"

    def __init__(self, *, verdict_uri: str | None = None, only_day: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.verdict_uri = verdict_uri
        self.only_day = only_day

    def execute(self, context: Context) -> dict:
        from trainset.inspection.verdicts import ingest_verdicts

        config = get_config()
        aws = config.connections.aws
        uri = self.verdict_uri or f"{config.storage.inspection_server}/{config.inspection.verdict_prefix}"
        only_day = dt.date.fromisoformat(self.only_day) if self.only_day else None
        self.log.info("reading verdicts from %s%s", uri, f" (day {only_day})" if only_day else "")
        with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
            result = ingest_verdicts(conn, config, storage_for(uri, aws), batch_id=f"inspection__{context['run_id']}",
                                     quarantine=storage_for(config.storage.quarantine, aws), only_day=only_day)
            self.log.info("this run: %s", result.summary())
            # Each verdict day's figures as every other surface shows them (one definition: trainset.figures).
            for day in sorted(result.days):
                self.log.info(figures.server_inspection_line(figures.server_inspection(conn, figures.Scope.day(day))))
        return {**result.counts, "days": sorted(d.isoformat() for d in result.days)}


class ReworkNoticeOperator(BaseOperator):
    """One Slack bot message per labeler with annotation failures (items + inspectors' comments), once.  A Slack
    outage is retried and recorded; it never fails this task (the notices go out on a later run)."""

    ui_color = "#f9e0f0"

    def __init__(self, *, slack_conn_id: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.slack_conn_id = slack_conn_id

    def execute(self, context: Context) -> dict:
        from airflow.providers.slack.hooks.slack import SlackHook
        from trainset.inspection.rework import notify_rework, slack_poster

        config = get_config()
        client = SlackHook(slack_conn_id=self.slack_conn_id or config.connections.slack_api).client
        with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
            result = notify_rework(conn, config, slack_poster(client))
        self.log.info(result.summary())
        if result.failed:
            self.log.warning("%d rework notice(s) could not be sent now; they stay recorded as failed and are "
                             "sent on the next run", result.failed)
        return {"planned": result.planned, "sent": result.sent, "failed": result.failed}


class InspectionGalleryOperator(BaseOperator):
    """Render the day's failed items (boxes, polygons, Korean class names), contact sheets per class / worker /
    reason and an HTML gallery under ``<reports>/inspection/gallery/<day>/``; logs the page's path.

    :param verdict_task_id: the ingestion task; the days it recorded are rendered (default: the run's day).
    :param verdict: fail (default), pass or all.
    """

    template_fields: Sequence[str] = ("verdict",)
    ui_color = "#e7e3f7"

    def __init__(self, *, verdict_task_id: str | None = None, verdict: str = "fail", **kwargs) -> None:
        super().__init__(**kwargs)
        self.verdict_task_id = verdict_task_id
        self.verdict = verdict

    def execute(self, context: Context) -> dict:
        from trainset.inspection.transfer import fetch_uri
        from trainset.inspection.viewer import build_gallery, failed_items, view_items_from_rows

        config = get_config()
        days = []
        if self.verdict_task_id:
            pulled = context["ti"].xcom_pull(task_ids=self.verdict_task_id) or {}
            days = [dt.date.fromisoformat(d) for d in pulled.get("days", [])]
        days = days or [run_day(context, config)]
        reports = storage_for(config.storage.reports, config.connections.aws)
        client = s3_client(config.connections.aws) if any(
            u.startswith("s3://") for u in (config.storage.warehouse, config.storage.reports)) else None
        pages = {}
        with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
            rows_by_day = {day: failed_items(conn, day=day, verdict=self.verdict) for day in days}
        for day, rows in rows_by_day.items():
            if not rows:
                self.log.info("%s: no %s verdicts to show", day, self.verdict)
                continue
            work = Path(tempfile.mkdtemp(prefix="trainset-gallery-"))
            try:
                items = view_items_from_rows(rows, lambda uri, work=work: fetch_uri(uri, client, work))
                page = build_gallery(items, work / "site", config=config,
                                     title=f"검수 {self.verdict} — {day.isoformat()} ({len(items)} items)")
                pages[day.isoformat()] = publish_site(reports, f"inspection/gallery/{day.isoformat()}", page.parent)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            self.log.info("gallery of %d %s item(s) for %s: %s", len(rows), self.verdict, day, pages[day.isoformat()])
        return {"pages": pages}


class PublishInspectionPassedOperator(BaseOperator):
    """Emit ``inspection_passed`` (with the counts) when the verdicts recorded new passes; skip otherwise, so the
    train-handoff stage is not triggered by a day without news."""

    ui_color = "#d5f5e3"

    def __init__(self, *, verdict_task_id: str, **kwargs) -> None:
        super().__init__(outlets=[inspection_passed], **kwargs)
        self.verdict_task_id = verdict_task_id

    def execute(self, context: Context) -> dict:
        from trainset import db

        counts = context["ti"].xcom_pull(task_ids=self.verdict_task_id) or {}
        if not counts.get("passed"):
            raise AirflowSkipException("no new inspection passes in this run")
        config = get_config()
        with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
            with conn.cursor() as cur:
                total = db.fetch_dicts(cur, "SELECT count(*) AS n FROM inspection_passed_items")[0]["n"]
        extra = {"new_passes": counts["passed"], "total_passed": total, "days": counts.get("days", []),
                 "failed": counts.get("failed", {})}
        context["outlet_events"][inspection_passed].extra = extra
        self.log.info("inspection_passed: %s", extra)
        return extra


class BulkFixOperator(BaseOperator):
    """Apply rule-based fixes to many annotation files (``json_dump``); dry run by default.

    :param rules: list of rule specs (``rename_class:OLD=NEW``, ``drop_attribute:NAME[@CLASS]``, ``clamp_boxes``,
        ``set_meta:PATH=VALUE``).
    :param root: storage root of the files; default ``storage.labeling``.
    :param prefix: folder/prefix under the root; default ``accepted`` (the normalised labels).
    """

    template_fields: Sequence[str] = ("rules", "root", "prefix", "dry_run")
    ui_color = "#fbe7c6"

    def __init__(self, *, rules: list[str] | str, root: str | None = None, prefix: str = "accepted",
                 dry_run: bool | str = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rules = rules
        self.root = root
        self.prefix = prefix
        self.dry_run = dry_run

    def execute(self, context: Context) -> dict:
        from airflow.sdk.exceptions import AirflowFailException
        from trainset.inspection.bulkfix import RuleError, apply_fixes, parse_rule

        config = get_config()
        specs = self.rules if isinstance(self.rules, list) else [s for s in str(self.rules).split(",") if s.strip()]
        try:
            rules = [parse_rule(s) for s in specs]
        except RuleError as err:
            raise AirflowFailException(str(err)) from err
        if not rules:
            raise AirflowFailException("no rules given")
        aws = config.connections.aws
        run = "json_dump__" + "".join(c if c.isalnum() or c in "-_." else "_" for c in context["run_id"])
        with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
            result = apply_fixes(conn, storage_for(self.root or config.storage.labeling, aws), self.prefix or "",
                                 rules, config, run=run, dry_run=_flag(self.dry_run),
                                 backup=storage_for(config.storage.reports, aws), work_date=run_day(context, config))
        for line in result.summary_lines(examples=20):
            self.log.info(line)
        return {"dry_run": result.dry_run, "scanned": result.scanned, "matched": len(result.plans),
                "written": result.written, "revalidation_failed": len(result.revalidation_failures),
                "changes_by_rule": dict(result.changes_by_rule)}
