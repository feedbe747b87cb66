"""Issue 14 item 3 end to end: operators working on "the run's day" take it in the project time zone."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

MIDNIGHT_KST = dt.datetime(2026, 3, 16, 15, 0, tzinfo=dt.UTC)  # 2026-03-17 00:00 in Asia/Seoul


def test_gallery_of_a_midnight_kst_run_shows_the_kst_day(project_env, monkeypatch):
    """The old code asked for the failures of 2026-03-16 (the UTC date) for a run at 00:00 KST on the 17th."""
    import trainset.inspection.viewer as viewer
    from trainset_airflow.operators.inspection import InspectionGalleryOperator

    asked = []
    monkeypatch.setattr(viewer, "failed_items", lambda conn, *, day, verdict: asked.append(day) or [])
    op = InspectionGalleryOperator(task_id="labeling_show")
    for context in ({"logical_date": MIDNIGHT_KST, "dag_run": SimpleNamespace(run_after=MIDNIGHT_KST), "run_id": "r"},
                    {"logical_date": None, "dag_run": SimpleNamespace(run_after=MIDNIGHT_KST), "run_id": "r"}):
        assert op.execute(context) == {"pages": {}}
    assert asked == [dt.date(2026, 3, 17), dt.date(2026, 3, 17)]


def test_daily_report_of_a_midnight_kst_run_is_the_kst_day(project_env):
    from trainset.config import get_config
    from trainset_airflow.operators.train import DailyReportOperator
    from trainset_airflow.runday import run_day

    # The report operator and the gallery read the same definition.
    context = {"logical_date": MIDNIGHT_KST, "dag_run": SimpleNamespace(run_after=MIDNIGHT_KST)}
    assert run_day(context, get_config(), DailyReportOperator(task_id="r").day) == dt.date(2026, 3, 17)
