"""GxValidationOperator through dag.test(): a SELECT on the real records DB, a suite with config thresholds,
verdicts recorded in the same transaction, Data Docs built; a broken suite fails the task."""

from __future__ import annotations

import json

import pytest
from trainset import db
from trainset.config import get_config

SUITE = {
    "name": "gx_operator_test",
    "expectations": [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "sharpness", "min_value": {"$PARAMETER": "blur_min_sharpness"}},
         "meta": {"reason_code": "blurry"}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "width", "min_value": {"$PARAMETER": "min_width"}},
         "meta": {"reason_code": "too_small"}},
    ],
}

SQL = """
SELECT i.image_id, i.width, c.value_num AS sharpness
FROM images i LEFT JOIN check_results c ON c.image_id = i.image_id AND c.check_name = 'sharpness'
WHERE i.batch_id = %(batch_id)s ORDER BY i.image_id
"""


DAG_FILE = """
import datetime as dt

from airflow.sdk import DAG
from trainset.expectations import record_image_verdicts
from trainset_airflow.operators.gx import GxValidationOperator

SQL = {sql!r}


def thresholds(config):
    return {{"blur_min_sharpness": config.refine.quality.blur_min_sharpness,
             "min_width": config.image_spec.min_width}}


with DAG({dag_id!r}, schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False, tags=["test"],
         params={{"batch_id": "b1"}}) as dag:
    GxValidationOperator(
        task_id="judge", sql=SQL, sql_params={{"batch_id": "{{{{ params.batch_id }}}}"}}, suite_name={suite!r},
        id_column="image_id", parameters=thresholds, docs_dir={docs!r},
        record_with=record_image_verdicts, batch_id="{{{{ params.batch_id }}}}", retries=0,
    )
"""


@pytest.fixture
def make_dag(tmp_path, monkeypatch):
    """A DAG file in a DAGs folder of this test's own: dag.test() serializes DAGs from their bundle, and test
    DAGs do not belong in the project's dags/."""
    import airflow.settings
    from airflow.dag_processing.dagbag import DagBag

    dags_dir = tmp_path / "dags"
    dags_dir.mkdir()
    monkeypatch.setattr(airflow.settings, "DAGS_FOLDER", str(dags_dir))

    def make(suite_name: str, docs_dir):
        dag_id = f"gx_operator_{suite_name}"
        (dags_dir / f"{dag_id}.py").write_text(
            DAG_FILE.format(sql=SQL, dag_id=dag_id, suite=suite_name, docs=str(docs_dir)), encoding="utf-8")
        bag = DagBag(dag_folder=str(dags_dir))
        assert not bag.import_errors, bag.import_errors
        return bag.get_dag(dag_id)

    return make


def _seed(conn, sharpness_by_image: dict[int, float | None], width_by_image: dict[int, int]) -> None:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES ('b1', 'collect', 'seed')")
        for image_id, width in width_by_image.items():
            cur.execute(
                "INSERT INTO images (image_id, sha256, size_bytes, format, width, height, source_uri, original_name, "
                "class_name, batch_id, status) VALUES (%s, %s, 1000, 'jpeg', %s, 480, %s, %s, 'object', 'b1', 'raw')",
                (image_id, f"{image_id:064d}", width, f"file:///drop/{image_id}.jpg", f"{image_id}.jpg"))
        db.execute_batch(cur, "INSERT INTO check_results (image_id, check_name, value_num) VALUES %s",
                         [(i, "sharpness", s) for i, s in sharpness_by_image.items()])
    conn.commit()


def failed_tasks(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances() if str(ti.state) != "success"}


def _verdicts(conn, suite_name) -> dict[int, tuple]:
    with conn.cursor() as cur:
        rows = db.fetch_dicts(cur, "SELECT image_id, passed, reason_code, details FROM check_results "
                                   "WHERE check_name = %s", (f"suite:{suite_name}",))
    return {r["image_id"]: (r["passed"], r["reason_code"], r["details"]["reasons"]) for r in rows}


@pytest.fixture
def suite_dir(tmp_path, monkeypatch):
    folder = tmp_path / "expectations"
    folder.mkdir()
    (folder / f"{SUITE['name']}.json").write_text(json.dumps(SUITE), encoding="utf-8")
    (folder / "gx_broken.json").write_text(json.dumps({"name": "gx_broken", "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "no_such_column", "min_value": 1},
         "meta": {"reason_code": "x"}}]}), encoding="utf-8")
    monkeypatch.setenv("TRAINSET_EXPECTATIONS_DIR", str(folder))
    return folder


def test_operator_records_per_image_verdicts_and_builds_docs(project_env, suite_dir, make_dag):
    config = get_config()
    limit = config.refine.quality.blur_min_sharpness
    _seed(project_env.records, {1: limit + 10, 2: limit - 10, 3: None, 4: limit + 1},
          {1: 640, 2: 640, 3: 640, 4: config.image_spec.min_width - 1})
    docs = project_env.tmp_path / "docs"
    dag = make_dag(SUITE["name"], docs)

    run = dag.test()
    assert str(run.state) == "success", failed_tasks(run)
    expected = {1: (True, None, []), 2: (False, "blurry", ["blurry"]), 3: (False, "blurry", ["blurry"]),
                4: (False, "too_small", ["too_small"])}
    assert _verdicts(project_env.records, SUITE["name"]) == expected
    ti = next(t for t in run.get_task_instances() if t.task_id == "judge")
    result = ti.xcom_pull(task_ids="judge")
    assert result["evaluated"] == 4 and result["failed"] == 3 and result["reasons"] == {"blurry": 2, "too_small": 1}
    assert result["recorded"] == {"rows": 4, "failed": 3}
    assert (docs / "index.html").is_file() and result["docs_path"] == str(docs / "index.html")
    assert SUITE["name"] in (docs / "index.html").read_text(encoding="utf-8")

    # A second run of the same data changes nothing in the DB.
    run = dag.test()
    assert str(run.state) == "success", failed_tasks(run)
    assert _verdicts(project_env.records, SUITE["name"]) == expected
    with project_env.records.cursor() as cur:
        cur.execute("SELECT count(*) FROM check_results WHERE check_name = %s", (f"suite:{SUITE['name']}",))
        assert cur.fetchone()[0] == 4


def test_a_suite_that_cannot_run_fails_the_task(project_env, suite_dir, make_dag):
    _seed(project_env.records, {1: 100.0}, {1: 640})
    run = make_dag("gx_broken", project_env.tmp_path / "docs").test()
    assert str(run.state) == "failed"
    ti = next(t for t in run.get_task_instances() if t.task_id == "judge")
    assert str(ti.state) == "failed" and ti.try_number == 1
    with project_env.records.cursor() as cur:
        cur.execute("SELECT count(*) FROM check_results WHERE check_name LIKE 'suite:%%'")
        assert cur.fetchone()[0] == 0
