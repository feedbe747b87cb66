"""What day a run works on: the one definition every operator and DAG uses.

A run's moment is its ``logical_date`` (a scheduled run) or, when it has none (manual and asset-triggered runs
in Airflow 3), its ``run_after``. Its **day** is that moment's date in the project time zone
(``project.timezone``), never the UTC date: a run at 00:00 KST (15:00 UTC the day before) works on the KST day.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from airflow.sdk import Context
from trainset.config import ProjectConfig


def run_moment(context: Context, config: ProjectConfig) -> dt.datetime:
    """The run's moment as an aware datetime in the project time zone."""
    when = context.get("logical_date") or context["dag_run"].run_after
    if when.tzinfo is None:  # Airflow hands out aware UTC datetimes; a naive one is UTC by Airflow's convention
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(ZoneInfo(config.project.timezone))


def run_day(context: Context, config: ProjectConfig, override=None) -> dt.date:
    """The day the run works on: ``override`` (a date or ``YYYY-MM-DD``; a Param) when given, else the date of
    ``run_moment`` in the project time zone."""
    if override not in (None, "", "None"):
        return override if isinstance(override, dt.date) else dt.date.fromisoformat(str(override).strip()[:10])
    return run_moment(context, config).date()
