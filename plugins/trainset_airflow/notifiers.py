"""Slack failure alerts for every task: which DAG, task, try, run and where the log is."""

from __future__ import annotations

from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

FAILURE_TEXT = (
    ":red_circle: trainset task failed\n"
    "*DAG*: {{ dag.dag_id }}\n"
    "*Task*: {{ ti.task_id }}{% if ti.map_index is not none and ti.map_index >= 0 %} [map {{ ti.map_index }}]{% endif %}\n"
    "*Try*: {{ ti.try_number }}\n"
    "*Run*: {{ run_id }}\n"
    "*Log*: {{ ti.log_url }}"
)


def failure_notifier(conn_id: str = "slack_alerts") -> SlackWebhookNotifier:
    # The webhook URL stays in the connection's password, which Airflow masks in every log.
    return SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=FAILURE_TEXT)
