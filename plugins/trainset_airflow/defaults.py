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
