"""TrainsetStepOperator: argument coercion, the run's day, exceptions → task states, outlet extras."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from trainset.step import StepInputError, StepResult, StepSkipped
from trainset_airflow.operators.base import TrainsetStepOperator

probe = Asset("trainset://test/probe")
seen: dict = {}


def _probe_step(ctx):
    seen.update(day=ctx.work_date, args=dict(ctx.args), run_id=ctx.run_id, upstream=dict(ctx.upstream))
    mode = ctx.arg("mode")
    if mode == "skip":
        raise StepSkipped("nothing new")
    if mode == "bad":
        raise StepInputError("unknown class 'zebra'")
    if mode == "boom":
        raise RuntimeError("transient")
    with ctx.conn.cursor() as cur:
        cur.execute("SELECT 41 + 1")
        answer = cur.fetchone()[0]
    return StepResult(summary=f"probe: {answer}", xcom={"answer": answer},
                      event_extra=None if ctx.arg("dry_run") else {"answer": answer})


class ProbeOperator(TrainsetStepOperator):
    step = staticmethod(_probe_step)
    outlet = probe
    template_fields = ("work_date", "mode", "dry_run", "classes", "limit")
    arg_kinds = {"mode": "text", "dry_run": "flag", "classes": "list", "limit": "int"}

    def __init__(self, *, mode=None, dry_run=False, classes=None, limit=0, **kwargs):
        super().__init__(**kwargs)
        self.mode, self.dry_run, self.classes, self.limit = mode, dry_run, classes, limit


def test_arguments_are_coerced_and_the_day_is_the_project_time_zones(project_env, task_context):
    op = ProbeOperator(task_id="probe", dry_run="True", classes=" car, person ,,", limit="7",
                       xcom_from={"plan": "plan_task"})
    # 15:30 UTC on 30 Nov is 00:30 KST on 1 Dec: the run works on the Korean day.
    context = task_context(run_after=dt.datetime(2026, 11, 30, 15, 30, tzinfo=dt.UTC),
                           xcoms={"plan_task": ["b1", "b2"]})
    assert op.execute(context) == {"answer": 42}
    assert seen["day"] == dt.date(2026, 12, 1)
    assert seen["args"] == {"mode": None, "dry_run": True, "classes": ["car", "person"], "limit": 7}
    assert seen["upstream"] == {"plan": ["b1", "b2"]}
    assert op.outlets == []  # a dry run emits no event


def test_work_date_overrides_the_run_day_and_the_extra_reaches_the_event(project_env, task_context):
    op = ProbeOperator(task_id="probe", work_date="2026-10-09")
    context = task_context()
    op.execute(context)
    assert seen["day"] == dt.date(2026, 10, 9)
    assert context["outlet_events"][probe].extra == {"answer": 42}
    assert op.outlets == [probe]


@pytest.mark.parametrize(("kwargs", "raised"), [
    ({"mode": "skip"}, AirflowSkipException),
    ({"mode": "bad"}, AirflowFailException),
    ({"dry_run": "ture"}, AirflowFailException),  # a typo is not silently False
    ({"limit": "seven"}, AirflowFailException),
    ({"work_date": "2026-13-40"}, AirflowFailException),
    ({"mode": "boom"}, RuntimeError),  # anything else may pass on retry
])
def test_domain_exceptions_map_to_task_states(project_env, task_context, kwargs, raised):
    with pytest.raises(raised):
        ProbeOperator(task_id="probe", **kwargs).execute(task_context())


def test_template_fields_render_from_params(project_env, task_context):
    from airflow.sdk import DAG

    with DAG("probe_dag", schedule=None, params={"dry_run": True, "classes": "car,person"}):
        op = ProbeOperator(task_id="probe", dry_run="{{ params.dry_run }}", classes="{{ params.classes }}")
    context = task_context()
    context["params"] = {"dry_run": True, "classes": "car,person"}
    op.render_template_fields(context)
    assert op.step_args()["dry_run"] is True
    assert op.step_args()["classes"] == ["car", "person"]
