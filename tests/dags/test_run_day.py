"""Issue 14 item 3: "what day is this run" has one definition (trainset_airflow.runday), in the project time
zone. On the old code the inspection operators took the UTC date: a 00:00 KST run worked on the previous day."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import SimpleNamespace

from trainset.config import get_config
from trainset_airflow.runday import run_day, run_moment

ROOT = Path(__file__).resolve().parents[2]
MIDNIGHT_KST = dt.datetime(2026, 3, 16, 15, 0, tzinfo=dt.UTC)  # 2026-03-17 00:00 in Asia/Seoul


def test_project_time_zone_is_kst():
    assert get_config().project.timezone == "Asia/Seoul"  # the cases below are written for it


def test_scheduled_run_at_midnight_kst_works_on_the_kst_day():
    config = get_config()
    context = {"logical_date": MIDNIGHT_KST, "dag_run": SimpleNamespace(run_after=MIDNIGHT_KST)}
    assert run_day(context, config) == dt.date(2026, 3, 17)
    assert run_moment(context, config).isoformat() == "2026-03-17T00:00:00+09:00"


def test_manual_or_asset_run_uses_run_after():
    config = get_config()
    context = {"logical_date": None, "dag_run": SimpleNamespace(run_after=MIDNIGHT_KST + dt.timedelta(minutes=1))}
    assert run_day(context, config) == dt.date(2026, 3, 17)
    # One minute before midnight KST is still the 16th.
    context = {"dag_run": SimpleNamespace(run_after=MIDNIGHT_KST - dt.timedelta(minutes=1))}
    assert run_day(context, config) == dt.date(2026, 3, 16)


def test_override_wins():
    config = get_config()
    context = {"logical_date": MIDNIGHT_KST}
    assert run_day(context, config, "2026-03-10") == dt.date(2026, 3, 10)
    assert run_day(context, config, dt.date(2026, 3, 11)) == dt.date(2026, 3, 11)
    assert run_day(context, config, "") == dt.date(2026, 3, 17)


def test_the_inspection_operators_use_the_kst_day():
    """The gallery operator's day when no verdict days are pulled: the old code took the UTC date (the 16th).
    Every inspection operator now stands on TrainsetStepOperator, whose step context takes the day from runday."""
    from trainset_airflow.operators import base, inspection

    source = (ROOT / "plugins/trainset_airflow/operators/base.py").read_text(encoding="utf-8")
    assert "run_day(context, config, self.work_date)" in source
    assert base.run_day is run_day
    assert all(issubclass(getattr(inspection, name), base.TrainsetStepOperator)
               for name in ("InspectionGalleryOperator", "VerdictIngestOperator", "BulkFixOperator"))


def test_one_definition_of_the_runs_day():
    """No DAG or operator reads logical_date / run_after itself: they all go through runday."""
    offenders = []
    for path in [*(ROOT / "dags").glob("*.py"), *(ROOT / "plugins/trainset_airflow").rglob("*.py")]:
        if path.name == "runday.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"[\"']logical_date[\"']|\.run_after\b|\.astimezone\(", line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == [], "\n".join(offenders)
