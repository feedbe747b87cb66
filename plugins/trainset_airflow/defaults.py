"""What every trainset DAG shares: owner, retries and the Slack failure notifier on every task."""

from __future__ import annotations

import datetime as dt

from trainset.config import ProjectConfig, get_config

from trainset_airflow.notifiers import failure_notifier

OWNER = "trainset"


def default_args(config: ProjectConfig | None = None, **overrides) -> dict:
    # Notifiers go on tasks (not the DAG): a DAG-level Slack notifier breaks under dag.test() upstream.
    config = config or get_config()
    args = {
        "owner": OWNER,
        "retries": config.tasks.retries,
        "retry_delay": dt.timedelta(seconds=config.tasks.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "on_failure_callback": [failure_notifier(config.connections.slack_webhook)],
    }
    args.update(overrides)
    return args


def cron_schedule(cron: str | None, config: ProjectConfig | None = None):
    """A cron schedule in the project's time zone that, once unpaused, waits for its next tick.

    ``run_immediately=timedelta(0)``: its default (False) still starts the latest past tick at once when it was
    less than a tenth of the period ago; the DAGs have no start_date for the same reason (with one and catchup
    off, Airflow starts the latest past tick on unpause). ``None`` when the project file gives no schedule.
    """
    from airflow.sdk import CronTriggerTimetable

    config = config or get_config()
    if not cron:
        return None
    return CronTriggerTimetable(cron, timezone=config.project.timezone, run_immediately=dt.timedelta(0))
