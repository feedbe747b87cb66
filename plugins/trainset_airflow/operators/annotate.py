"""annotate_intake operators (thin over ``trainset.annotate.service``).

Every operator takes ``work_date`` (templated, ``YYYY-MM-DD``; empty = the run's day, ``trainset_airflow.runday.run_day``:
its logical date or ``run_after`` in the project time zone, never "today"), so catch-up, backfill and re-runs address the right day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from airflow.sdk import BaseOperator, Context
from trainset.annotate import service
from trainset.annotate.rules import suite_parameters
from trainset.config import ProjectConfig, get_config

from trainset_airflow.assets import first_inspection_passed
from trainset_airflow.hooks import RecordsDbHook, storage_for
from trainset_airflow.operators.gx import default_docs_dir
from trainset_airflow.runday import run_day


def gx_parameters(config: ProjectConfig | None = None, **_template_context) -> dict:
    """The annotation suite's thresholds and taxonomy from the project file, at run time."""
    return suite_parameters(config if isinstance(config, ProjectConfig) else get_config())


def resolve_work_date(value, context: Context, config: ProjectConfig) -> dt.date:
    """The ``work_date`` argument when given, else the run's day (``trainset_airflow.runday.run_day``)."""
    return run_day(context, config, value)


def _flag(value) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")


class _AnnotateOperator(BaseOperator):
    template_fields: Sequence[str] = ("work_date",)
    ui_color = "#f3e8fa"

    def __init__(self, *, work_date: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.work_date = work_date

    def _db(self, config: ProjectConfig):
        return RecordsDbHook(postgres_conn_id=config.connections.records_db).connection()

    def _storage(self, config: ProjectConfig, root: str):
        return storage_for(root, config.connections.aws)


class LabelingDistributionOperator(_AnnotateOperator):
    """Sync the roster, assign the day's work, write each worker's list to ``labeling/assignments/<date>/``.

    :param dry_run: compute and log the assignment; write nothing.
    """

    template_fields: Sequence[str] = ("work_date", "dry_run")

    def __init__(self, *, dry_run: bool | str = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run

    def execute(self, context: Context) -> dict:
        config = get_config()
        day = resolve_work_date(self.work_date, context, config)
        with self._db(config) as conn:
            result = service.distribute_day(conn, config, self._storage(config, config.storage.labeling), day,
                                            dry_run=_flag(self.dry_run))
        if not result["working_day"]:
            self.log.info("%s is not a working day: nothing assigned", day)
        self.log.info("distribution %s%s: %d assigned (%d rework) to %d workers%s", day,
                      " (dry run)" if result["dry_run"] else "", result["assigned"], result["rework"],
                      len(result["by_worker"]), " — reused the day's existing assignment" if result["reused"] else "")
        self.log.info("  by worker: %s", result["by_worker"])
        self.log.info("  by class: %s; schedule priority: %s", result["by_class"],
                      ", ".join(f"{p['class']} {p['deficit']:+g}" for p in result["priority"]))
        self.log.info("  remaining to label before today: %s; open rework: %d", result["remaining_before"],
                      result["rework_open"])
        for uri in result["lists"]:
            self.log.info("  list: %s", uri)
        return result


class UploadCheckOperator(_AnnotateOperator):
    """Compare the day's assignments with the uploads; one Slack bot message per worker with missing items (DM to
    the roster's Slack user id, else the labeling channel), sent once per worker and day (``notifications``).

    :param slack_conn_id: Slack API connection (default ``config.connections.slack_api``).
    :param notify: send messages (False: only report).
    """

    template_fields: Sequence[str] = ("work_date", "notify")

    def __init__(self, *, slack_conn_id: str | None = None, notify: bool | str = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.slack_conn_id = slack_conn_id
        self.notify = notify

    def execute(self, context: Context) -> dict:
        from airflow.providers.slack.hooks.slack import SlackHook

        config = get_config()
        day = resolve_work_date(self.work_date, context, config)
        hook = SlackHook(slack_conn_id=self.slack_conn_id or config.connections.slack_api)

        def send(channel: str, text: str) -> None:
            hook.client.chat_postMessage(channel=channel, text=text)

        with self._db(config) as conn:
            report = service.check_uploads(conn, config, self._storage(config, config.storage.labeling), day)
            for worker_id, info in report.items():
                self.log.info("%s: %d assigned, %d uploaded, %d missing", worker_id, info["assigned"],
                              info["uploaded"], len(info["missing"]))
            sent = service.notify_missing(conn, config, day, report, send, dry_run=not _flag(self.notify))
        self.log.info("missing-upload messages: sent to %s; not sent again (already sent or notify off): %s",
                      sent["sent"] or "nobody", sent["already_sent_or_dry_run"] or "nobody")
        return {"work_date": day.isoformat(), "workers": report, **sent}


class AnnotationSchemaValidationOperator(_AnnotateOperator):
    """Read the day's uploads (folders or S3 prefixes per worker; zips safely), validate each label against its
    JSON Schema (``include/schemas``), normalise to the canonical model, record ``annotations`` and rebuild the
    flattened table ``annotation_rule_rows`` that the GX suite judges next."""

    def execute(self, context: Context) -> dict:
        config = get_config()
        day = resolve_work_date(self.work_date, context, config)
        with self._db(config) as conn:
            result = service.ingest_day(conn, config, self._storage(config, config.storage.labeling),
                                        self._storage(config, config.storage.quarantine), day,
                                        run_id=context["run_id"])
        self.log.info("uploads %s: %d workers, %d files, %d labels; syntax failures %d %s; missing %d; "
                      "upload problems %d; %d rule rows", day, result.get("workers", 0), result.get("files", 0),
                      result.get("labels", 0), result.get("syntax_failed", 0), result["syntax_reasons"],
                      result.get("missing", 0), result.get("upload_problems", 0), result.get("rule_rows", 0))
        return result


class RefinementRemedyOperator(_AnnotateOperator):
    """Repair failures caused by refinement (label names the pre-rename file; image resized after labeling) when
    the fix is certain, record the repair, and run the rules again (second inspection)."""

    def execute(self, context: Context) -> dict:
        config = get_config()
        day = resolve_work_date(self.work_date, context, config)
        with self._db(config) as conn:
            result = service.repair_day(conn, config, day, docs_dir=default_docs_dir(config),
                                        run_name=f"{context['run_id']}__second")
        self.log.info("refinement remedies %s: %d attempted, %d repaired and passed, %d still failing, "
                      "%d uncertain (left failed); remedies %s", day, result["attempted"], result["repaired"],
                      result["still_failed"], result["uncertain"], result["remedies"])
        for u in result["uncertain_items"]:
            self.log.info("  uncertain %s: %s", u["item_key"], u["why"])
        return result


class LabelingResultsOperator(_AnnotateOperator):
    """Write accepted labels, quarantine failures, fill the rework queue and the PM's daily tables, and emit
    ``first_inspection_passed`` with the day's counts."""

    def __init__(self, **kwargs) -> None:
        super().__init__(outlets=[first_inspection_passed], **kwargs)

    def execute(self, context: Context) -> dict:
        config = get_config()
        day = resolve_work_date(self.work_date, context, config)
        with self._db(config) as conn:
            result = service.publish_results(conn, config, self._storage(config, config.storage.labeling),
                                             self._storage(config, config.storage.quarantine), day)
        self.log.info(service.results_line(result))
        context["outlet_events"][first_inspection_passed].extra = {
            k: result[k] for k in ("work_date", "inspected", "passed", "repaired", "failed", "missing",
                                   "syntax_accuracy", "accepted")}
        return result
