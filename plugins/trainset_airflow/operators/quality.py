"""Labeling quality control operators (thin over ``trainset.quality.service``)."""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk import Context
from trainset.config import get_config

from trainset_airflow.hooks import s3_client
from trainset_airflow.operators.annotate import _AnnotateOperator, _flag, resolve_work_date


class QualityAssignmentOperator(_AnnotateOperator):
    """Add the day's hidden GT items and consensus replicas to the distribution, then rewrite the lists.

    :param dry_run: add nothing (the distribution's dry run writes nothing either).
    """

    template_fields: Sequence[str] = ("work_date", "dry_run")
    ui_color = "#e8f4fa"

    def __init__(self, *, dry_run: bool | str = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run

    def execute(self, context: Context) -> dict:
        from trainset.annotate.service import _upload_workers, _write_lists
        from trainset.quality.service import plan_quality_assignments

        config = get_config()
        day = resolve_work_date(self.work_date, context, config)
        if _flag(self.dry_run):
            self.log.info("dry run: no GT or consensus assignments added")
            return {"work_date": day.isoformat(), "dry_run": True}
        labeling = self._storage(config, config.storage.labeling)
        with self._db(config) as conn:
            result = plan_quality_assignments(conn, config, day, uploads_started=bool(_upload_workers(labeling, day)))
            if not result.get("reused") and not result.get("skipped"):
                with conn.cursor() as cur:
                    result["lists"] = _write_lists(cur, labeling, config, day)
        self.log.info("quality assignments %s: %s", day, {k: v for k, v in result.items() if k != "lists"})
        return result


class QualityScoreOperator(_AnnotateOperator):
    """Score GT uploads (then set them aside), merge consensus replicas, per-labeler daily and rolling scores.
    The gating thresholds are judged next by the GX suite ``labeler_quality``."""

    ui_color = "#e8f4fa"

    def execute(self, context: Context) -> dict:
        from trainset.quality.service import score_day

        config = get_config()
        day = resolve_work_date(self.work_date, context, config)
        with self._db(config) as conn:
            result = score_day(conn, config, day)
        for worker, row in result["labelers"].items():
            self.log.info("%s: GT accuracy %s today, rolling %s over %d GT boxes", worker, row["accuracy"],
                          row["rolling_accuracy"], row["rolling_gt_boxes"])
        self.log.info("GT uploads set aside %d, consensus items %d (%d disputed)", result["gt_scored"],
                      result["consensus_items"], result["consensus_disputed"])
        return result


class QualityGalleryOperator(_AnnotateOperator):
    """Publish the day's GT vs labeler and replica vs replica overlays (hints beside each image) to
    ``<reports>/quality/gallery/<day>/index.html``; a day with nothing to compare gets a page saying so."""

    ui_color = "#e7e3f7"

    def execute(self, context: Context) -> dict:
        from trainset.quality.gallery import build_day_gallery

        config = get_config()
        day = resolve_work_date(self.work_date, context, config)
        client = s3_client(config.connections.aws) if config.storage.warehouse.startswith("s3://") else None
        with self._db(config) as conn:
            result = build_day_gallery(conn, config, day, self._storage(config, config.storage.reports),
                                       s3_client=client)
        self.log.info("quality gallery %s: %d item(s) (%d GT, %d consensus): %s", day, result["items"],
                      result["gt"], result["consensus"], result["page"])
        return result


class QualityNotifyOperator(_AnnotateOperator):
    """Send the pending gating messages to the PM (Slack bot), each recorded as sent before the next.

    :param notify: send (False: the messages stay pending in ``notifications``).
    """

    template_fields: Sequence[str] = ("work_date", "notify")
    ui_color = "#e8f4fa"

    def __init__(self, *, slack_conn_id: str | None = None, notify: bool | str = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.slack_conn_id = slack_conn_id
        self.notify = notify

    def execute(self, context: Context) -> list[str]:
        from airflow.providers.slack.hooks.slack import SlackHook
        from trainset.quality.service import send_pending_gating

        config = get_config()
        if not _flag(self.notify):
            self.log.info("notify off: gating messages stay pending")
            return []
        hook = SlackHook(slack_conn_id=self.slack_conn_id or config.connections.slack_api)

        def send(channel: str, text: str) -> None:
            hook.client.chat_postMessage(channel=channel, text=text)

        with self._db(config) as conn:
            sent = send_pending_gating(conn, send)
        self.log.info("gating messages sent for %s", sent or "nobody")
        return sent
