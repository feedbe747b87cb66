"""The annotate_intake day: its batch in the records DB and its upload due time (every task is keyed by the day)."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from trainset.config import ProjectConfig

STAGE = "annotate"


def batch_id_for(day: dt.date) -> str:
    return f"annotate_intake__{day.isoformat()}"


def day_from_batch_id(batch_id: str) -> dt.date:
    return dt.date.fromisoformat(batch_id.rsplit("__", 1)[-1])


def due_at(config: ProjectConfig, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, config.schedules.labeling_upload_due, tzinfo=ZoneInfo(config.project.timezone))


def work_day_times(config: ProjectConfig, day: dt.date, *, wait_for_due: bool = True) -> dict:
    """The day and when its upload check runs (the due time; now when the run does not wait for it), as the
    DAG's templates read them: ``{"work_date", "due_at"}`` in ISO format."""
    due = due_at(config, day) if wait_for_due else dt.datetime.now(ZoneInfo(config.project.timezone))
    return {"work_date": day.isoformat(), "due_at": due.isoformat()}


def ensure_batch(cur, day: dt.date, run_id: str, counts: dict | None = None) -> str:
    """The day's ``batches`` row (created, or its counts merged in); returns its id."""
    batch_id = batch_id_for(day)
    cur.execute("""INSERT INTO batches (batch_id, stage, run_id, counts) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (batch_id) DO UPDATE SET run_id = EXCLUDED.run_id,
                       counts = batches.counts || EXCLUDED.counts, finished_at = now()""",
                (batch_id, STAGE, run_id, json.dumps(counts or {})))
    return batch_id
