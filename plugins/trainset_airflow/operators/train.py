"""The train-handoff stage's operators (thin over ``trainset.train``) and the daily report's (over
``trainset.reports``): plan a release, publish it, judge it with the ``train_release`` suite, announce it; build
the PM's progress files and e-mail them through the SMTP provider."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from trainset import figures
from trainset.config import get_config

from trainset_airflow.assets import training_dataset
from trainset_airflow.hooks import RecordsDbHook, s3_client, storage_for
from trainset_airflow.runday import run_day, run_moment


def _ratios(value) -> dict[str, float] | None:
    if value in (None, "", {}):
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return {str(k): float(v) for k, v in dict(value).items()}


def _formats(value) -> list[str] | None:
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


class PlanReleaseOperator(BaseOperator):
    """Split the items that passed inspection (grouped, stratified, seeded), run the leak check and record the
    plan.  Skips when nothing has passed; fails without retry when the release name is taken.

    :param release_name: name of the release; empty = ``<project code>-<run time>``, and then the run skips when
        nothing changed since the newest release (same items, annotations and parameters).
    :param ratios: split ratios ({"train": .8, ...} or its JSON); empty = config ``train.split``.
    :param formats: export formats (list or comma-separated); empty = config ``train.formats``.
    :param seed: split seed; empty = config ``train.seed``.
    """

    template_fields: Sequence[str] = ("release_name", "ratios", "formats", "seed")
    ui_color = "#e8eaf6"

    def __init__(self, *, release_name: str = "", ratios=None, formats=None, seed=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.release_name, self.ratios, self.formats, self.seed = release_name, ratios, formats, seed

    def execute(self, context: Context) -> dict:
        from trainset.train.release import (
            NothingToRelease,
            ReleaseError,
            ReleaseExists,
            default_release_name,
            plan_release,
        )

        config = get_config()
        named = str(self.release_name or "").strip()
        name = named or default_release_name(config, run_moment(context, config))
        seed = int(self.seed) if self.seed not in (None, "") else None
        with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
            try:
                plan = plan_release(conn, config, name=name, run_id=context["run_id"], ratios=_ratios(self.ratios),
                                    formats=_formats(self.formats), seed=seed,
                                    skip_if_unchanged=not named)  # a named release is always built
            except NothingToRelease as err:
                raise AirflowSkipException(str(err)) from None
            except (ReleaseExists, ReleaseError) as err:
                raise AirflowFailException(str(err)) from None  # retrying cannot help
        if plan.get("already_published"):
            self.log.info("release %s (%s) was already published by this run", name, plan["version"])
        else:
            self.log.info("release %s (%s): %d items in %d groups (%d with several items); %s; leak check %s",
                          name, plan["version"], plan["items"], plan["groups"], plan["multi_item_groups"],
                          ", ".join(f"{s} {n}" for s, n in plan["per_split"].items()),
                          "passed" if plan["leak_check_passed"] else "FAILED")
        return plan


class PublishReleaseOperator(BaseOperator):
    """Build the planned release (exports, balance, data card) and publish it to ``storage.training`` with its
    manifest; a retry of the same run is a no-op once the manifest is there."""

    ui_color = "#c5cae9"

    def __init__(self, *, plan_task_id: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.plan_task_id = plan_task_id

    def execute(self, context: Context) -> dict:
        from trainset.train.release import ReleaseError, ReleaseExists, publish_release, uri_reader

        config = get_config()
        plan = context["ti"].xcom_pull(task_ids=self.plan_task_id)
        if not plan:
            raise AirflowSkipException("nothing was planned")
        aws = config.connections.aws
        needs_s3 = config.storage.warehouse.startswith("s3://") or config.storage.training.startswith("s3://")
        reader = uri_reader(s3_client(aws) if needs_s3 else None)
        with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
            try:
                summary = publish_release(conn, config, name=plan["release"], run_id=context["run_id"],
                                          storage=storage_for(config.storage.training, aws), read=reader)
            except (ReleaseExists, ReleaseError) as err:
                raise AirflowFailException(str(err)) from None
        counts = summary["counts"]
        self.log.info("published %s (%s) to %s: %d items, %d objects; imbalance ratio %s; data card figures (%s): "
                      "구문 정확성 %s, first-inspection pass rate %s, inspection pass rate %s",
                      summary["release"], summary["version"], summary["uri"], counts["items"], counts["objects"],
                      counts.get("imbalance_ratio"), counts.get("quality_scope"),
                      figures.syntax_text(counts.get("syntax_accuracy"), config.annotate.syntax_accuracy_target),
                      figures.pct(counts.get("first_inspection_pass_rate")),
                      figures.pct(counts.get("inspection_pass_rate")))
        self.log.info("data card: %s", summary["datacard"])
        return summary


class ReleaseSuiteOperator(BaseOperator):
    """Judge the published release with the GX suite ``train_release`` (no item in two splits, every manifest
    file present with its checksum, split shares within tolerance, every class in every split when possible).
    A failing release is marked ``invalid`` in ``release_builds`` and the task fails."""

    ui_color = "#fff3e0"

    def __init__(self, *, publish_task_id: str, suite_name: str = "train_release", **kwargs) -> None:
        super().__init__(**kwargs)
        self.publish_task_id = publish_task_id
        self.suite_name = suite_name

    def execute(self, context: Context) -> dict:
        import pandas as pd
        from trainset.expectations import validate_dataframe
        from trainset.train.release import release_check_rows

        from trainset_airflow.operators.gx import default_docs_dir

        config = get_config()
        summary = context["ti"].xcom_pull(task_ids=self.publish_task_id)
        if not summary:
            raise AirflowSkipException("nothing was published")
        storage = storage_for(config.storage.training, config.connections.aws)
        df = pd.DataFrame(release_check_rows(storage, summary["release"]))
        outcome = validate_dataframe(df, self.suite_name, id_column="check_id", docs_dir=default_docs_dir(config),
                                     run_name=f"{summary['release']}__{context['run_id']}")
        self.log.info(outcome.summary())
        if not outcome.success:
            with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
                with conn.cursor() as cur:
                    cur.execute("UPDATE release_builds SET status = 'invalid', error = %s WHERE release_name = %s",
                                (outcome.summary()[:2000], summary["release"]))
            failing = dict(list(outcome.failures.items())[:10])
            raise AirflowFailException(f"release {summary['release']} fails {self.suite_name}: {failing}")
        return outcome.to_dict()


class AnnounceReleaseOperator(BaseOperator):
    """Emit ``training_dataset`` with the release's name, version, URI, manifest checksum and counts."""

    ui_color = "#d5f5e3"

    def __init__(self, *, publish_task_id: str, **kwargs) -> None:
        super().__init__(outlets=[training_dataset], **kwargs)
        self.publish_task_id = publish_task_id

    def execute(self, context: Context) -> dict:
        summary = context["ti"].xcom_pull(task_ids=self.publish_task_id)
        if not summary:
            raise AirflowSkipException("nothing was published")
        extra = {k: summary[k] for k in ("release", "version", "uri", "manifest_sha256", "datacard")}
        extra["counts"] = {k: summary["counts"].get(k) for k in ("items", "objects", "per_split")}
        context["outlet_events"][training_dataset].extra = extra
        self.log.info("training_dataset: %s %s at %s", extra["release"], extra["version"], extra["uri"])
        return extra


class DailyReportOperator(BaseOperator):
    """Build the PM's progress table (per day, class, stage, worker) as CSV and XLSX with the day's key numbers
    (``annotation_data_to_csv``) into ``storage.reports`` under ``daily/<day>/``.

    :param day: report day YYYY-MM-DD; empty = the run's day in the project's time zone.
    """

    template_fields: Sequence[str] = ("day",)
    ui_color = "#fce4ec"

    def __init__(self, *, day: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.day = day

    def execute(self, context: Context) -> dict:
        from trainset.reports import annotation_data_to_csv, record_daily_report

        config = get_config()
        day = run_day(context, config, self.day)
        reports = storage_for(config.storage.reports, config.connections.aws)
        work = Path(tempfile.mkdtemp(prefix="daily-report-"))
        try:
            with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
                result = annotation_data_to_csv(conn, work, day,
                                                syntax_target=config.annotate.syntax_accuracy_target)
                uris = [reports.put_file(f"daily/{day.isoformat()}/{result[k].name}", result[k])
                        for k in ("csv", "xlsx")]
                # The quality block (also a sheet of the XLSX) beside the report, not attached to the e-mail.
                reports.put_file(f"daily/{day.isoformat()}/{result['quality_csv'].name}", result["quality_csv"])
                record_daily_report(conn, day, uris, result["key_numbers"])
        finally:
            shutil.rmtree(work, ignore_errors=True)
        numbers = result["key_numbers"]
        self.log.info("daily report %s: %d progress rows; collected today %d; first inspection (%s) %s/%s passed, "
                      "(%s) %s/%s; 구문 정확성 (%s) %s; 검수 (%s) %s/%s passed; files %s", day, result["rows"],
                      numbers["collected_today"], numbers["first_inspection_scope_today"],
                      numbers["first_passed_today"], numbers["first_inspected_today"],
                      numbers["first_inspection_scope_total"], numbers["first_passed_total"],
                      numbers["first_inspected_total"], numbers["first_inspection_scope_total"],
                      figures.syntax_text(numbers["syntax_accuracy_total"], config.annotate.syntax_accuracy_target),
                      numbers["inspection_scope_today"], numbers["server_passed_today"],
                      numbers["server_inspected_today"], ", ".join(uris))
        return {"day": day.isoformat(), "files": uris, "key_numbers": numbers, "rows": result["rows"]}


class EmailReportOperator(BaseOperator):
    """E-mail the day's report (key numbers in the body, the CSV and XLSX attached) to ``report.recipients``
    through the SMTP provider (connection ``connections.smtp``), once per day: a re-run does not send twice."""

    template_fields: Sequence[str] = ("recipients",)
    ui_color = "#f8bbd0"

    def __init__(self, *, build_task_id: str, recipients: Sequence[str] | str | None = None,
                 smtp_conn_id: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.build_task_id = build_task_id
        self.recipients = recipients
        self.smtp_conn_id = smtp_conn_id

    def execute(self, context: Context) -> dict:
        from airflow.providers.smtp.hooks.smtp import SmtpHook
        from trainset.reports import report_html, report_subject, send_daily_report

        config = get_config()
        built = context["ti"].xcom_pull(task_ids=self.build_task_id)
        recipients = self.recipients or config.report.recipients
        if isinstance(recipients, str):
            recipients = [r.strip() for r in recipients.split(",") if r.strip()]
        if not recipients:
            raise AirflowSkipException("no recipients (config report.recipients is empty)")
        day = dt.date.fromisoformat(built["day"])
        reports = storage_for(config.storage.reports, config.connections.aws)
        work = Path(tempfile.mkdtemp(prefix="daily-mail-"))
        try:
            files = []
            for uri in built["files"]:
                key = uri[len(reports.uri) + 1:]
                fetched = reports.fetch_to(key, work)
                target = work / Path(key).name  # attachments carry the report's file name
                if fetched != target:
                    shutil.copyfile(fetched, target)
                files.append(target)
            subject = report_subject(config.project.name, day)
            body = report_html(config.project.name, day, built["key_numbers"], attachments=[p.name for p in files])

            def send(to, subj, html_body, paths):
                with SmtpHook(smtp_conn_id=self.smtp_conn_id or config.connections.smtp) as hook:
                    hook.send_email_smtp(to=to, subject=subj, html_content=html_body, files=paths)

            with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
                result = send_daily_report(conn, send, day=day, recipients=recipients, subject=subject,
                                           html_body=body, files=files)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.log.info("daily report %s: %s to %s", day, result["status"], ", ".join(recipients))
        return result
