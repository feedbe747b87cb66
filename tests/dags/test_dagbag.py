"""DagBag integrity, without a metadata DB: imports, owners, tags, retries and the Slack failure notifier."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
EXPECTED_DAGS = {"collect", "refine", "annotate_intake", "inspection", "json_dump", "train_handoff", "daily_report"}


@pytest.fixture(scope="module")
def dagbag():
    import os

    from airflow.dag_processing.dagbag import DagBag

    # Parse with the project file's production defaults (the test suite sets retries to 0 for dag.test()).
    saved = os.environ.pop("TRAINSET_TASK_RETRIES", None)
    try:
        return DagBag(dag_folder=str(DAGS_DIR))
    finally:
        if saved is not None:
            os.environ["TRAINSET_TASK_RETRIES"] = saved


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_expected_dags_present(dagbag):
    assert EXPECTED_DAGS <= set(dagbag.dag_ids)


def test_every_dag_has_owner_tags_retries_and_failure_notifier(dagbag):
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "trainset" in dag.tags, dag_id
        for task in dag.tasks:
            assert task.owner == "trainset", (dag_id, task.task_id)
            assert task.retries >= 1, (dag_id, task.task_id)
            callbacks = task.on_failure_callback or []
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert any(isinstance(cb, SlackWebhookNotifier) for cb in callbacks), (dag_id, task.task_id)


def test_no_dag_file_shadows_the_standard_library():
    import sys

    for path in DAGS_DIR.glob("*.py"):
        assert path.stem not in sys.stdlib_module_names, path


def test_dags_use_the_task_sdk_only():
    for path in DAGS_DIR.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "airflow.decorators" not in text and "airflow.models" not in text, path


def test_every_param_has_a_title_a_description_and_a_default_the_trigger_form_accepts(dagbag):
    """The UI's trigger form disables its button while a field is invalid; an empty string in a plain "string"
    field counts as missing, so optional text is ["null", "string"] with default None."""
    problems = []
    for dag_id, dag in dagbag.dags.items():
        for name, param in dag.params.items():
            param = dag.params.get_param(name)
            schema = param.schema
            if not schema.get("title") or not param.description:
                problems.append(f"{dag_id}.{name}: no title or description")
            try:
                param.resolve(suppress_exception=False)
            except Exception as exc:  # the form validates the default with the same JSON schema
                problems.append(f"{dag_id}.{name}: default rejected: {exc}")
            types = schema.get("type")
            types = types if isinstance(types, list) else [types]
            if param.value == "" and "null" not in types:
                problems.append(f"{dag_id}.{name}: empty string default; use ['null', 'string'] and None")
    assert not problems, "\n".join(problems)


def test_unpausing_a_dag_waits_for_its_next_scheduled_time(dagbag):
    """With catchup off and a start_date, Airflow starts the latest past tick the moment a DAG is unpaused
    (`make up` unpauses every DAG); without a start_date a cron timetable waits for the next tick."""
    import datetime as dt

    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    now = dt.datetime.now(dt.UTC)
    for dag_id, dag in dagbag.dags.items():
        timetable = coerce_to_core_timetable(dag.timetable)
        if not timetable.can_be_scheduled:
            continue
        info = timetable.next_dagrun_info(last_automated_data_interval=None,
                                          restriction=TimeRestriction(dag.start_date, dag.end_date, dag.catchup))
        assert info is None or info.run_after > now, (dag_id, info)
