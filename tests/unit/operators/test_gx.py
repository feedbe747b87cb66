"""GxValidationOperator over the real records DB: execute with the real hook, its template fields rendered as
Airflow renders them, and a suite that cannot run failing the task without retry."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException
from trainset import db
from trainset.config import ProjectConfig
from trainset.expectations import record_image_verdicts
from trainset_airflow.operators.gx import GxValidationOperator

SUITE = {"name": "gx_unit_test", "expectations": [
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "sharpness", "min_value": {"$PARAMETER": "blur_min_sharpness"}},
     "meta": {"reason_code": "blurry"}}]}
BROKEN = {"name": "gx_unit_broken", "expectations": [
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "no_such_column", "min_value": 1},
     "meta": {"reason_code": "x"}}]}

SQL = """SELECT i.image_id, c.value_num AS sharpness
         FROM images i JOIN check_results c ON c.image_id = i.image_id AND c.check_name = 'sharpness'
         WHERE i.batch_id = %(batch_id)s ORDER BY i.image_id"""


@pytest.fixture
def suites(tmp_path, monkeypatch):
    folder = tmp_path / "suites"
    folder.mkdir()
    for suite in (SUITE, BROKEN):
        (folder / f"{suite['name']}.json").write_text(json.dumps(suite), encoding="utf-8")
    monkeypatch.setenv("TRAINSET_EXPECTATIONS_DIR", str(folder))
    return folder


def _seed(conn, sharpness: dict[int, float]) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES ('b1', 'collect', 'seed')")
        for image_id in sharpness:
            cur.execute(
                "INSERT INTO images (image_id, sha256, size_bytes, format, width, height, source_uri, original_name, "
                "class_name, batch_id, status) VALUES (%s, %s, 1000, 'jpeg', 640, 480, %s, %s, 'object', 'b1', 'raw')",
                (image_id, f"{image_id:064d}", f"file:///drop/{image_id}.jpg", f"{image_id}.jpg"))
        db.execute_batch(cur, "INSERT INTO check_results (image_id, check_name, value_num) VALUES %s",
                         [(i, "sharpness", s) for i, s in sharpness.items()])
    conn.commit()


def _suite_rows(conn) -> dict[int, tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT image_id, passed, reason_code, batch_id FROM check_results WHERE check_name = %s",
                    (f"suite:{SUITE['name']}",))
        return {r[0]: r[1:] for r in cur.fetchall()}


def test_execute_validates_and_records_in_the_records_db(project_env, suites, task_context):
    _seed(project_env.records, {1: 80.0, 2: 5.0, 3: 60.0})
    seen = {}

    def thresholds(config: ProjectConfig) -> dict:
        seen["config"] = config
        return {"blur_min_sharpness": "50"}  # a numeric string, as a templated value would be

    op = GxValidationOperator(task_id="judge", sql=SQL, sql_params={"batch_id": "b1"}, suite_name=SUITE["name"],
                              id_column="image_id", parameters=thresholds, docs_dir="",
                              record_with=record_image_verdicts, batch_id="b1")
    result = op.execute(task_context())
    assert isinstance(seen["config"], ProjectConfig)
    assert result["evaluated"] == 3 and result["failed"] == 1 and result["reasons"] == {"blurry": 1}
    assert result["recorded"] == {"rows": 3, "failed": 1}
    assert result["docs_path"] is None  # docs_dir "" = no Data Docs
    # Committed by the hook's connection: a second connection (the fixture's) sees the verdicts.
    assert _suite_rows(project_env.records) == {1: (True, None, "b1"), 2: (False, "blurry", "b1"),
                                                 3: (True, None, "b1")}


def test_record_with_that_declares_config_gets_the_runs_config(project_env, suites, task_context):
    _seed(project_env.records, {1: 80.0})
    calls = []

    def record(conn, outcome, *, run_id, batch_id, config):
        calls.append((outcome.ids, run_id, batch_id, type(config)))
        return {"seen": len(outcome.ids)}

    op = GxValidationOperator(task_id="judge", sql=SQL, sql_params={"batch_id": "b1"}, suite_name=SUITE["name"],
                              id_column="image_id", parameters={"blur_min_sharpness": 10}, docs_dir="",
                              record_with=record, batch_id="b1")
    result = op.execute(task_context(run_id="manual__r7"))
    assert calls == [(["1"], "manual__r7", "b1", ProjectConfig)]
    assert result["recorded"] == {"seen": 1}


def test_sql_params_and_batch_id_are_rendered_from_the_context():
    op = GxValidationOperator(task_id="judge", sql=SQL, sql_params={"batch_id": "{{ params.batch_id }}"},
                              suite_name="{{ params.suite }}", id_column="image_id",
                              parameters={"blur_min_sharpness": "{{ params.limit }}"},
                              batch_id="refine__{{ params.batch_id }}", record_with=record_image_verdicts)
    op.render_template_fields({"params": {"batch_id": "b42", "suite": SUITE["name"], "limit": 75}})
    assert op.sql_params == {"batch_id": "b42"}
    assert op.batch_id == "refine__b42"
    assert op.suite_name == SUITE["name"]
    assert op.parameters == {"blur_min_sharpness": "75"}
    args = op.step_args()
    assert args["sql_params"] == {"batch_id": "b42"} and args["batch_id"] == "refine__b42"
    assert args["record_with"] is record_image_verdicts and args["id_column"] == "image_id"


def test_a_suite_that_cannot_run_fails_without_retry_and_records_nothing(project_env, suites, task_context):
    _seed(project_env.records, {1: 80.0})
    op = GxValidationOperator(task_id="judge", sql=SQL, sql_params={"batch_id": "b1"}, suite_name=BROKEN["name"],
                              id_column="image_id", docs_dir="", record_with=record_image_verdicts, batch_id="b1")
    with pytest.raises(AirflowFailException, match="no_such_column"):
        op.execute(task_context())
    with pytest.raises(AirflowFailException, match="no file"):
        GxValidationOperator(task_id="judge2", sql=SQL, sql_params={"batch_id": "b1"}, suite_name="no_such_suite",
                             id_column="image_id", docs_dir="").execute(task_context())
    with project_env.records.cursor() as cur:
        cur.execute("SELECT count(*) FROM check_results WHERE check_name LIKE 'suite:%%'")
        assert cur.fetchone()[0] == 0


def test_parameters_that_are_not_a_dict_fail_the_task(project_env, suites, task_context):
    op = GxValidationOperator(task_id="judge", sql=SQL, sql_params={"batch_id": "b1"}, suite_name=SUITE["name"],
                              id_column="image_id", parameters=lambda: [1, 2], docs_dir="")
    with pytest.raises(AirflowFailException, match="parameters must be a dict"):
        op.execute(task_context())


def test_record_with_must_be_a_function_not_a_dotted_path():
    with pytest.raises(TypeError, match="record_with must be a function"):
        GxValidationOperator(task_id="judge", sql=SQL, suite_name=SUITE["name"], id_column="image_id",
                             record_with="trainset.expectations.record_image_verdicts")
