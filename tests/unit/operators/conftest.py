"""Operator tests in the providers' style: ``execute`` with the real hook (the records DB of tests/conftest.py as
an Airflow connection from the environment) and a task context holding just what the operators read."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from types import SimpleNamespace

import pytest


class FakeTaskInstance:
    """The only part of a TaskInstance the operators use: XComs of upstream tasks."""

    def __init__(self, xcoms: dict | None = None) -> None:
        self.xcoms = dict(xcoms or {})

    def xcom_pull(self, task_ids: str):
        return self.xcoms.get(task_ids)


@pytest.fixture
def task_context():
    """``make(run_after=..., logical_date=..., xcoms=...)``: a context like Airflow's for one task run."""

    def make(*, run_after: dt.datetime | None = None, logical_date: dt.datetime | None = None,
             xcoms: dict | None = None, run_id: str = "manual__2026-12-01T03:00:00+00:00") -> dict:
        run_after = run_after or dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
        return {"run_id": run_id, "logical_date": logical_date, "dag_run": SimpleNamespace(run_after=run_after),
                "ti": FakeTaskInstance(xcoms), "outlet_events": defaultdict(SimpleNamespace),
                "params": {}}

    return make
