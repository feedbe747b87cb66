"""inspection (검수): send first-inspection passes to the inspection server, take the verdicts back, send rework
notices, render the day's failures, and check it all with Great Expectations.

Runs daily (``schedules.inspection``) and whenever annotate-intake emits ``first_inspection_passed``.

- ``labeling_validation_batch``: items → inspection server (AI Hub layout), verified, exactly once; manifest.
- ``labeling_verdicts``: the server's verdict files → DB; bad rows quarantined with a reason; failures routed.
- ``validation_labeling``: one Slack message per labeler with their failed items and the inspectors' comments.
- ``labeling_show``: gallery of the day's failed items (the page's path is in the task log).
- ``check_transfers`` / ``check_verdicts``: GX suites ``inspection_transfers`` / ``inspection_verdicts``.
- ``publish_inspection_passed``: emits ``inspection_passed`` when there are new passes.

The file is not called ``inspect.py``: ``dags/`` is on sys.path and that would shadow the standard library.
"""

from airflow.sdk import AssetOrTimeSchedule, Param, dag
from trainset.config import get_config
from trainset.inspection.checks import TRANSFER_CHECK_SQL, VERDICT_CHECK_SQL, record_check, verdict_suite_parameters
from trainset_airflow.assets import first_inspection_passed
from trainset_airflow.defaults import cron_schedule, default_args
from trainset_airflow.operators.gx import GxValidationOperator
from trainset_airflow.operators.inspection import (
    InspectionGalleryOperator,
    PublishInspectionPassedOperator,
    ReworkNoticeOperator,
    VerdictIngestOperator,
)
from trainset_airflow.operators.transfer import ServerTransferOperator

config = get_config()

schedule = (AssetOrTimeSchedule(timetable=cron_schedule(config.schedules.inspection, config),
                                assets=[first_inspection_passed])
            if config.schedules.inspection else [first_inspection_passed])


@dag(
    dag_id="inspection",
    schedule=schedule,
    catchup=False,
    max_active_runs=1,  # two transfers of the same passed list at once would race for the same objects
    default_args=default_args(config),
    tags=["trainset", "inspection", "stage-4"],
    doc_md=__doc__,
    params={
        "item_keys": Param(None, type=["null", "string"], title="Items",
                           description="Comma-separated item keys to send; empty = every passed item not sent yet."),
        "verdict_day": Param(None, type=["null", "string"], format="date", title="Verdict day",
                             description="YYYY-MM-DD: ingest only that day's verdict file; empty = every new file."),
    },
)
def inspection():
    transfer = ServerTransferOperator(task_id="labeling_validation_batch", item_keys="{{ params.item_keys or '' }}")
    verdicts = VerdictIngestOperator(task_id="labeling_verdicts", only_day="{{ params.verdict_day or '' }}",
                                     trigger_rule="all_done")  # verdicts of earlier sends come back regardless
    notices = ReworkNoticeOperator(task_id="validation_labeling")
    show = InspectionGalleryOperator(task_id="labeling_show", verdict_task_id="labeling_verdicts")
    check_transfers = GxValidationOperator(
        task_id="check_transfers", sql=TRANSFER_CHECK_SQL, suite_name="inspection_transfers", id_column="item_key",
        record_with=record_check, batch_id="inspection_check_transfers__{{ run_id }}",
        trigger_rule="all_done")
    check_verdicts = GxValidationOperator(
        task_id="check_verdicts", sql=VERDICT_CHECK_SQL, suite_name="inspection_verdicts", id_column="row_id",
        parameters=verdict_suite_parameters, record_with=record_check,
        batch_id="inspection_check_verdicts__{{ run_id }}")
    publish = PublishInspectionPassedOperator(task_id="publish_inspection_passed", verdict_task_id="labeling_verdicts")

    transfer >> check_transfers
    transfer >> verdicts >> [notices, show, check_verdicts]
    check_verdicts >> publish


inspection()
