"""daily_report: the PM's daily progress report, e-mailed.

Runs on ``schedules.daily_report`` (project time zone) and manually (Param ``day``).

- ``annotation_data_to_csv``: progress per day, class, stage and worker as CSV and XLSX (with the key numbers
  and the analysis views as sheets) into ``storage.reports/daily/<day>/``.
- ``email_report``: the key numbers in the body, both files attached, to ``report.recipients`` through the SMTP
  provider (connection ``connections.smtp``); once per day, a re-run does not send again.
"""

from airflow.sdk import Param, dag
from trainset.config import get_config
from trainset_airflow.defaults import cron_schedule, default_args
from trainset_airflow.operators.train import DailyReportOperator, EmailReportOperator

config = get_config()


@dag(
    dag_id="daily_report",
    schedule=cron_schedule(config.schedules.daily_report, config),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(config),
    tags=["trainset", "report"],
    doc_md=__doc__,
    params={"day": Param(None, type=["null", "string"], format="date", title="Report day",
                         description="YYYY-MM-DD; empty = the run's day in the project's time zone.")},
)
def daily_report():
    build = DailyReportOperator(task_id="annotation_data_to_csv", day="{{ params.day or '' }}")
    email = EmailReportOperator(task_id="email_report", build_task_id="annotation_data_to_csv")
    build >> email


daily_report()
