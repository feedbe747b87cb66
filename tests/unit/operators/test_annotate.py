"""annotate_intake's operators (annotate and quality control) over the real records DB, local storage roots and
the local Slack endpoint: each ``execute`` with a task context, in the order the DAG runs them on one day."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from trainset import db
from trainset.annotate.model import CaptureMeta, LabelItem, LabelObject, to_project_json
from trainset.config import get_config
from trainset.storage import open_storage
from trainset_airflow.assets import first_inspection_passed
from trainset_airflow.operators.annotate import (
    AnnotationSchemaValidationOperator,
    LabelingDistributionOperator,
    LabelingResultsOperator,
    RefinementRemedyOperator,
    UploadCheckOperator,
)
from trainset_airflow.operators.quality import (
    QualityAssignmentOperator,
    QualityGalleryOperator,
    QualityNotifyOperator,
    QualityScoreOperator,
)
from trainset_dev.photos import photo

DAY = "2026-03-16"  # a Monday inside the project period
ROSTER = """workers:
  - {worker_id: kim, name: 김민지, slack_user_id: U0OPKIM, employment_start: 2026-01-05, daily_capacity: 4, classes: [all]}
  - {worker_id: lee, name: 이서준, employment_start: 2026-01-05, daily_capacity: 4, classes: [all]}
"""
W, H = 160, 120


@pytest.fixture
def day_env(project_env, project_file):
    """Six refined images in the warehouse and a two-worker roster (one without a Slack id)."""
    project_file(roster=ROSTER)
    warehouse = open_storage("file://" + str(project_env.data_root / "warehouse"))
    rows = []
    for n in range(1, 7):
        data, cls = photo(n, (W, H)), ("person", "vehicle")[n % 2]
        name = f"TS_{cls}_20260312_{n:06d}.jpg"
        rows.append((hashlib.sha256(data).hexdigest(), len(data), "jpeg", W, H, f"file:///drop/p{n}.jpg",
                     f"p{n}.jpg", cls, "refine__test", "refined", "refine", warehouse.write_bytes(f"{cls}/{name}", data),
                     name))
    with project_env.records.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES ('refine__test', 'refine', 'test')")
        db.execute_batch(cur, """INSERT INTO images (sha256, size_bytes, format, width, height, source_uri,
                                 original_name, class_name, batch_id, status, stage, location, dataset_name)
                                 VALUES %s""", rows)
    project_env.records.commit()
    return project_env


def _upload_one(labeling, worker: str, item_key: str, cls: str) -> None:
    item = LabelItem(item_key=item_key, source_format="aihub", source_uri=f"{item_key}.json", label_stem=item_key,
                     image_file_name=f"{item_key}.jpg", width=W, height=H, class_name=cls,
                     capture=CaptureMeta(date="2026-03-10"), id_scope=item_key,
                     objects=[LabelObject(id="1", category=cls, bbox=[20.0, 20.0, 60.0, 50.0],
                                          attributes={"pose": "standing"} if cls == "person" else {"type": "car"})])
    doc = to_project_json(item, image_file_name=f"{item_key}.jpg")
    labeling.write_bytes(f"uploads/{DAY}/{worker}/{item_key}.json", json.dumps(doc, ensure_ascii=False).encode())


def _count(conn, sql, *params):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def test_a_day_through_every_operator(day_env, task_context):
    conn, slack = day_env.records, day_env.slack
    config = get_config()
    labeling = open_storage(config.storage.labeling)

    dist = LabelingDistributionOperator(task_id="distribute", work_date=DAY).execute(task_context())
    assert dist["assigned"] == 6 and dist["by_worker"] == {"kim": 3, "lee": 3} and not dist["reused"]
    assert all(labeling.local_path(f"assignments/{DAY}/{w}.csv").is_file() for w in ("kim", "lee"))
    quality = QualityAssignmentOperator(task_id="quality_assignments", work_date=DAY).execute(task_context())
    assert quality["reused"] is False and quality["gt_assigned"] == 0  # no GT set yet
    assert len(quality["lists"]) == 2

    with conn.cursor() as cur:
        cur.execute("""SELECT i.item_key, i.class_name FROM assignments a JOIN images i USING (image_id)
                       WHERE a.worker_id = 'kim' AND a.task_kind = 'label' ORDER BY 1 LIMIT 1""")
        key, cls = cur.fetchone()
    _upload_one(labeling, "kim", key, cls)

    check = UploadCheckOperator(task_id="check_uploads", work_date=DAY, notify="True").execute(task_context())
    assert check["workers"]["kim"]["uploaded"] == 1 and key not in check["workers"]["kim"]["missing"]
    assert sorted(check["sent"]) == ["kim", "lee"]
    messages = slack.messages("chat.postMessage")
    assert sorted(m.body.get("channel") for m in messages) == sorted(["U0OPKIM", config.slack.labeling])
    kim_text = next(m.text for m in messages if m.body.get("channel") == "U0OPKIM")
    assert f"미제출 {len(check['workers']['kim']['missing'])}건" in kim_text
    # Again: sent once per worker and day.
    again = UploadCheckOperator(task_id="check_uploads", work_date=DAY, notify="True").execute(task_context())
    assert again["sent"] == [] and sorted(again["already_sent_or_dry_run"]) == ["kim", "lee"]
    assert len(slack.messages("chat.postMessage")) == 2

    ingest = AnnotationSchemaValidationOperator(task_id="validate_schema", work_date=DAY).execute(task_context())
    assert ingest["labels"] == 1 and ingest["syntax_failed"] == 0 and ingest["missing"] == dist["assigned"] - 1 + (
        quality["consensus_replicas"])
    # The GX task's record_with (first inspection) with no rule failures: the one label passes.
    from types import SimpleNamespace

    from trainset.annotate.first_inspection import record_first_inspection

    first = record_first_inspection(conn, SimpleNamespace(failures={}, reason_counts={}), run_id="t",
                                    batch_id=f"annotate_intake__{DAY}")
    conn.commit()
    assert first["passed"] == 1
    repair = RefinementRemedyOperator(task_id="repair_and_reinspect", work_date=DAY).execute(task_context())
    assert repair["attempted"] == 0 and repair["uncertain"] == 0
    scores = QualityScoreOperator(task_id="quality_scores", work_date=DAY).execute(task_context())
    assert scores["gt_scored"] == 0 and scores["work_date"] == DAY
    assert QualityNotifyOperator(task_id="quality_notify", work_date=DAY, notify="False").execute(task_context()) == []

    context = task_context()
    published = LabelingResultsOperator(task_id="publish_results", work_date=DAY).execute(context)
    assert published["accepted"] == 1 and published["passed"] == 1
    assert context["outlet_events"][first_inspection_passed].extra == {
        k: published[k] for k in ("work_date", "inspected", "passed", "repaired", "failed", "missing",
                                  "syntax_accuracy", "accepted")}
    assert labeling.local_path(f"accepted/{key}.json").is_file()
    assert _count(conn, "SELECT count(*) FROM rework_queue WHERE opened_on = %s", dt.date(2026, 3, 16)) > 0

    gallery = QualityGalleryOperator(task_id="quality_gallery", work_date=DAY).execute(task_context())
    assert gallery["items"] == 0 and gallery["page"].endswith(f"quality/gallery/{DAY}/index.html")


def test_dry_run_and_notify_off_write_and_send_nothing(day_env, task_context):
    from trainset.annotate.roster import load_roster, sync_roster

    conn = day_env.records
    sync_roster(conn, load_roster(get_config()))  # a dry run does not sync the roster itself
    conn.commit()
    dist = LabelingDistributionOperator(task_id="distribute", work_date=DAY, dry_run="True").execute(task_context())
    assert dist["dry_run"] and dist["assigned"] == 6 and dist["lists"] == []
    assert _count(conn, "SELECT count(*) FROM assignments") == 0
    quality = QualityAssignmentOperator(task_id="quality_assignments", work_date=DAY, dry_run="True")
    assert quality.execute(task_context()) == {"work_date": DAY, "dry_run": True}
    LabelingDistributionOperator(task_id="distribute", work_date=DAY).execute(task_context())
    check = UploadCheckOperator(task_id="check_uploads", work_date=DAY, notify="False").execute(task_context())
    assert check["sent"] == [] and sorted(check["already_sent_or_dry_run"]) == ["kim", "lee"]
    assert day_env.slack.messages("chat.postMessage") == []
    assert _count(conn, "SELECT count(*) FROM notifications") == 0


def test_the_pending_gating_message_goes_to_the_pm_once(day_env, task_context):
    from trainset.quality.gating import update_gating

    conn, config = day_env.records, get_config()
    with conn.cursor() as cur:
        cur.execute("INSERT INTO workers (worker_id, name, employment_start, daily_capacity) VALUES ('bad', 'B', %s, 5)",
                    (dt.date(2026, 1, 5),))
        cur.execute("""INSERT INTO quality_labeler_daily (work_date, worker_id, rolling_accuracy, rolling_gt_boxes,
                           judged_accuracy, conflicts) VALUES (%s, 'bad', 0.2, 30, 0.2, '{}')""", (dt.date(2026, 3, 16),))
    update_gating(conn, config, dt.date(2026, 3, 16), {"bad": True}, None)  # what the quality_gate task records
    conn.commit()
    op = QualityNotifyOperator(task_id="quality_notify", work_date=DAY, notify="{{ params.notify }}")
    context = task_context()
    context["params"] = {"notify": True}
    op.render_template_fields(context)
    assert op.step_args() == {"notify": True}
    assert op.execute(context) == ["bad"]
    assert op.execute(task_context()) == []
    messages = day_env.slack.messages("chat.postMessage")
    assert len(messages) == 1 and messages[0].body.get("channel") == config.slack.alerts
    assert "B (bad) rolling GT accuracy 20.0%" in messages[0].text


def test_the_work_date_template_renders_from_the_resolve_task(day_env, task_context):
    from airflow.sdk import DAG

    with DAG("annotate_probe", schedule=None, params={"dry_run": False}):
        op = LabelingDistributionOperator(task_id="distribute",
                                          work_date="{{ ti.xcom_pull(task_ids='resolve_work_date')['work_date'] }}",
                                          dry_run="{{ params.dry_run }}")
    context = task_context(xcoms={"resolve_work_date": {"work_date": DAY, "due_at": f"{DAY}T18:00:00+09:00"}})
    context["params"] = {"dry_run": False}
    op.render_template_fields(context)
    assert op.work_date == DAY and op.step_args() == {"dry_run": False}
    assert op.execute(context)["work_date"] == DAY
