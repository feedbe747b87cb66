"""annotate_intake through dag.test() against real PostgreSQL and the local Slack endpoint.

The morning distribution runs first (as the 09:00 task would), the simulated labelers upload with every defect
injected at a known position, then the whole DAG runs: the distribution is reused, the upload check messages the
worker who uploaded nothing, the first inspection catches every defect with its reason, the refinement remedies
repair what is certain, and a re-run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from trainset import db
from trainset.config import get_config
from trainset.storage import open_storage
from trainset_dev.demo.annotate import DEFECTS, demo_prepare, demo_summary

DAY = dt.date(2026, 3, 16)  # a Monday inside the project period
CLASSES = ("person", "animal", "vehicle", "food", "object")
ROSTER = """workers:
  - {worker_id: kim,  name: 김민지, slack_user_id: U0TESTKIM,  employment_start: 2026-01-05, daily_capacity: 40, classes: [all]}
  - {worker_id: lee,  name: 이서준, slack_user_id: U0TESTLEE,  employment_start: 2026-01-05, daily_capacity: 30, classes: [all]}
  - {worker_id: park, name: 박지훈, slack_user_id: U0TESTPARK, employment_start: 2026-02-01, daily_capacity: 8,
     classes: [vehicle, food, object]}
  - {worker_id: yoon, name: 윤하은, employment_start: 2026-01-05, daily_capacity: 6, classes: [person, vehicle]}
  - {worker_id: choi, name: 최도윤, slack_user_id: U0TESTCHOI, employment_start: 2026-01-05, daily_capacity: 4,
     classes: [all]}
  - {worker_id: jung, name: 정예린, slack_user_id: U0TESTJUNG, employment_start: 2026-01-05, employment_end: 2026-02-27,
     daily_capacity: 10, classes: [all]}
  - {worker_id: han,  name: 한유진, slack_user_id: U0TESTHAN,  employment_start: 2026-12-01, daily_capacity: 10,
     classes: [all]}
"""
PER_CLASS = 18


def _jpeg(seed: int, size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size[1] // 8, size[0] // 8, 3)) * 255).astype("uint8")
    im = Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _seed_warehouse(conn, data_root: Path) -> None:
    """What refine leaves behind: refined images in the warehouse, renamed, with their original names."""
    warehouse = open_storage("file://" + str(data_root / "warehouse"))
    rows = []
    n = 0
    for cls in CLASSES:
        for k in range(PER_CLASS):
            n += 1
            size = (320, 240) if k % 3 else (240, 320)
            data = _jpeg(n, size)
            name = f"TS_{cls}_20260314_{n:06d}.jpg"
            uri = warehouse.write_bytes(f"{cls}/{name}", data)
            rows.append((hashlib.sha256(data).hexdigest(), len(data), "jpeg", size[0], size[1],
                         f"file:///drop/{cls}/photo_{n:03d}.jpg", f"photo_{n:03d}.jpg", cls, "refine__test",
                         "refined", "refine", uri, name))
    with conn.cursor() as cur:
        cur.execute("INSERT INTO batches (batch_id, stage, run_id) VALUES ('refine__test', 'refine', 'test')")
        db.execute_batch(cur, """INSERT INTO images (sha256, size_bytes, format, width, height, source_uri, original_name,
                                 class_name, batch_id, status, stage, location, dataset_name) VALUES %s""", rows)
    conn.commit()


@pytest.fixture
def annotate_env(project_env, project_file):
    assert str(project_env.tmp_path / "roster.yaml") in project_file(roster=ROSTER).read_text(encoding="utf-8")
    _seed_warehouse(project_env.records, project_env.data_root)
    return project_env


def _snapshot(conn) -> dict:
    out = {}
    with conn.cursor() as cur:
        for table, cols in {
            "assignments": "image_id, worker_id, task_kind, work_date, status, reason_codes",
            "annotations": "annotation_id, item_key, status, reason_codes, label_uri, payload::text",
            "inspections": "item_key, round, verdict, reason_codes",
            "quarantine": "entity_kind, entity_key, reason_code, location",
            "rework_queue": "item_key, worker_id, source, reason_codes, status",
            "notifications": "dedupe_key, status, attempts",
            "labeling_daily_results": "*",
            "labeling_daily_reasons": "*",
            "annotation_repairs": "annotation_id, remedy, details::text",
            "workers": "worker_id, active",
        }.items():
            cur.execute(f"SELECT {cols} FROM {table} ORDER BY 1, 2")
            out[table] = cur.fetchall()
    return out


def test_annotate_intake_day(annotate_env, run_dag):
    conn = annotate_env.records
    config = get_config()
    labeling = open_storage(config.storage.labeling)
    truth = demo_prepare(conn, config, DAY)  # the morning distribution and the labelers' uploads
    with conn.cursor() as cur:
        cur.execute("SELECT worker_id, count(*) FROM assignments WHERE work_date = %s GROUP BY 1", (DAY,))
        assert dict(cur.fetchall()) == {"choi": 4, "kim": 40, "lee": 30, "park": 8, "yoon": 6}
    assert (labeling.local_path("assignments/2026-03-16/kim.csv")).read_text().count("\n") == 41
    injected = {t["defect"] for t in truth.values() if t["defect"] and t["defect"] != "not_uploaded"}
    assert injected == set(DEFECTS), "the simulated day carries every defect"

    run_dag("annotate_intake", conf={"work_date": DAY.isoformat()})

    with conn.cursor() as cur:
        anns = db.fetch_dicts(cur, "SELECT * FROM annotations WHERE work_date = %s", (DAY,))
        inspections = db.fetch_dicts(cur, "SELECT * FROM inspections WHERE inspected_on = %s", (DAY,))
        rework = db.fetch_dicts(cur, "SELECT * FROM rework_queue")
        quarantine = db.fetch_dicts(cur, "SELECT * FROM quarantine")
        results = db.fetch_dicts(cur, "SELECT * FROM labeling_syntax_accuracy WHERE work_date = %s", (DAY,))[0]
        repairs = db.fetch_dicts(cur, "SELECT * FROM annotation_repairs")
    by_key = {a["item_key"]: a for a in anns}
    first = {(x["item_key"]): x for x in inspections if x["round"] == "first"}

    # Every item ends as the simulator said: clean and repaired items pass, each defect gives exactly its reason.
    for key, t in truth.items():
        if t["defect"] == "not_uploaded":
            assert first[key]["verdict"] == "fail" and first[key]["reason_codes"] == ["no_label"], key
            continue
        ann = by_key[key]
        assert sorted(ann["reason_codes"]) == sorted(t["expected"]), (key, t["defect"], ann["reason_codes"])
        assert ann["status"] == ("failed" if t["expected"] else "passed"), (key, t["defect"])
        if not t["expected"]:
            assert Path(ann["label_uri"].removeprefix("file://")).is_file()
    # Repairs are recorded and inspected a second time.
    remedies = {r["remedy"] for r in repairs}
    assert remedies == {"original_name", "rescale"}
    second = [x for x in inspections if x["round"] == "second"]
    repairable = [k for k, t in truth.items() if t["defect"] and t["defect"] != "not_uploaded" and not t["expected"]]
    assert len(second) == len(repairable) >= 3 and all(x["verdict"] == "pass" for x in second)
    # The uncertain refinement failures stay failed with their reason (not repaired).
    for defect in ("stem_mismatch", "image_size_mismatch"):
        key = next(k for k, t in truth.items() if t["defect"] == defect)
        assert by_key[key]["status"] == "failed" and not any(r["annotation_id"] == by_key[key]["annotation_id"]
                                                             for r in repairs)

    # The worker who uploaded nothing got exactly one message listing the items; nobody else got one.
    messages = annotate_env.slack.messages("chat.postMessage")
    assert [m.body.get("channel") for m in messages] == ["U0TESTCHOI"]
    for key, t in truth.items():
        if t["worker_id"] == "choi":
            assert key in messages[0].text

    # Failures are quarantined by reason and returned to their labeler; the zip's ../ member was refused.
    failed = [a for a in anns if a["status"] == "failed"]
    assert {q["reason_code"] for q in quarantine if q["entity_kind"] == "annotation"} == \
        {c for a in failed for c in a["reason_codes"]}
    assert any(q["reason_code"] == "zip_unsafe_path" and q["entity_kind"] == "upload" for q in quarantine)
    assert not (annotate_env.data_root / "outside.txt").exists()
    assert {r["item_key"] for r in rework} == {a["item_key"] for a in failed} | {
        k for k, t in truth.items() if t["defect"] == "not_uploaded"}
    syntax_failed = sum(1 for a in anns if set(a["reason_codes"]) & {"invalid_json", "invalid_utf8",
                                                                       "schema_missing_key", "schema_wrong_type",
                                                                       "schema_bad_enum"})
    assert results["inspected"] == len(anns)
    assert results["syntax_ok"] == len(anns) - syntax_failed
    assert float(results["syntax_accuracy"]) == pytest.approx((len(anns) - syntax_failed) / len(anns), abs=5e-5)  # fig_rate: 4 places

    # The Asset event carries the day's counts; the PM's summary lines read the same tables.
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        extra = session.execute(select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                                .where(AssetModel.name == "trainset://first_inspection_passed")
                                .order_by(AssetEvent.id.desc())).first()[0]
    assert extra["work_date"] == "2026-03-16" and extra["passed"] == results["passed"]
    assert extra["inspected"] == len(anns) and extra["missing"] == 4
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM labeling_daily_results WHERE work_date = %s", (DAY,))
        assert cur.fetchone()[0] > 0
    summary = demo_summary(conn, DAY)
    assert summary[0].startswith("annotate_intake 2026-03-16: distributed 88 items to 5 workers")
    assert any("missing-upload Slack messages: 1" in line for line in summary)

    # A re-run of the same day changes nothing and sends nothing.
    before = _snapshot(conn)
    run_dag("annotate_intake", conf={"work_date": DAY.isoformat()})
    assert _snapshot(conn) == before
    assert len(annotate_env.slack.messages("chat.postMessage")) == 1

    # A dry run of the next day writes and sends nothing, and skips the validation.
    dry = run_dag("annotate_intake", conf={"work_date": "2026-03-17", "dry_run": True})
    assert _snapshot(conn) == before
    assert str(dry.get_task_instance("labeling_validation.validate_schema").state) == "skipped"

    # A Saturday (catch-up or backfill of a day off): nothing is assigned, inspected or sent, and nothing fails.
    run_dag("annotate_intake", conf={"work_date": "2026-03-21"})
    assert _snapshot(conn) == before

    # The next working day, the rework queue goes back to each item's labeler first (as 'rework').
    from trainset.annotate.distribute import distribute_day

    nxt = distribute_day(conn, config, labeling, dt.date(2026, 3, 17))
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("""SELECT i.dataset_name, a.worker_id FROM assignments a JOIN images i USING (image_id)
                       WHERE a.work_date = '2026-03-17' AND a.task_kind = 'rework'""")
        reworked = {name.rsplit(".", 1)[0]: worker for name, worker in cur.fetchall()}
        cur.execute("SELECT count(*) FROM rework_queue WHERE status = 'assigned' AND assigned_on = '2026-03-17'")
        assert cur.fetchone()[0] == len(reworked) == nxt["rework"] > 0
    owners = {r["item_key"]: r["worker_id"] for r in rework}
    assert all(owners[k] == w for k, w in reworked.items())


def test_work_date_is_the_runs_date_in_the_project_time_zone():
    from types import SimpleNamespace

    from trainset_airflow.runday import run_day

    config = get_config()
    at = dt.datetime(2026, 3, 16, 15, 30, tzinfo=dt.UTC)  # 00:30 on the 17th in Seoul
    assert run_day({"dag_run": SimpleNamespace(run_after=at)}, config, "") == dt.date(2026, 3, 17)
    assert run_day({"dag_run": SimpleNamespace(run_after=at)}, config, "2026-03-10") == dt.date(2026, 3, 10)


def test_missing_upload_notice_survives_a_slack_outage(records):
    from trainset.annotate.upload_check import notify_missing

    config = get_config()
    report = {"choi": {"name": "최도윤", "slack_user_id": "U0TESTCHOI", "assigned": 2, "uploaded": 0,
                       "missing": ["TS_food_20260314_000001", "TS_food_20260314_000002"]},
              "yoon": {"name": "윤하은", "slack_user_id": None, "assigned": 1, "uploaded": 0,
                       "missing": ["TS_person_20260314_000003"]},
              "kim": {"name": "김민지", "slack_user_id": "U0TESTKIM", "assigned": 3, "uploaded": 3, "missing": []}}
    sent: list[tuple[str, str]] = []

    def down(channel, text):
        raise ConnectionError("slack is down")

    with pytest.raises(ConnectionError):
        notify_missing(records, config, DAY, report, down)
    with records.cursor() as cur:
        cur.execute("SELECT recipient, status, attempts, last_error FROM notifications ORDER BY 1")
        # The outbox records the error as "<type>: <message>" (trainset.outbox, shared by every sender).
        assert cur.fetchall() == [("U0TESTCHOI", "failed", 1, "ConnectionError: slack is down")]
    # The retry sends what failed and the rest, each once; a further run sends nothing.
    result = notify_missing(records, config, DAY, report, lambda c, t: sent.append((c, t)))
    assert result["sent"] == ["choi", "yoon"]
    assert [c for c, _ in sent] == ["U0TESTCHOI", config.slack.labeling]  # no Slack id: the team channel
    assert "TS_food_20260314_000002" in sent[0][1] and "미제출 2건" in sent[0][1]
    notify_missing(records, config, DAY, report, lambda c, t: sent.append((c, t)))
    assert len(sent) == 2
    with records.cursor() as cur:
        cur.execute("SELECT recipient, status, attempts FROM notifications ORDER BY 1")
        assert cur.fetchall() == [("#trainset-labeling", "sent", 1), ("U0TESTCHOI", "sent", 2)]


def test_uploads_on_an_s3_prefix(s3_server):
    """The labeling root may be an S3 prefix: listing per worker, zips and problems work the same."""
    import zipfile

    from trainset.annotate.uploads import read_upload, upload_prefix, upload_workers
    from trainset.storage import open_storage

    client = s3_server.client()
    client.create_bucket(Bucket="labeling-test")
    store = open_storage("s3://labeling-test/project/labeling", client)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x/TS_food_000002.json", "{}")
        zf.writestr("../../escape.json", "{}")
    store.write_bytes(f"{upload_prefix(DAY, 'kim')}/TS_food_000001.json", b"{}")
    store.write_bytes(f"{upload_prefix(DAY, 'kim')}/batch.zip", buf.getvalue())
    store.write_bytes(f"{upload_prefix(DAY, 'lee')}/TS_food_000003.txt", b"3 0.5 0.5 0.2 0.2\n")
    assert upload_workers(store, DAY) == {"kim", "lee"}
    files, problems = read_upload(store, upload_prefix(DAY, "kim"), get_config())
    assert sorted(f.name for f in files) == ["TS_food_000001.json", "batch.zip!/x/TS_food_000002.json"]
    assert files[0].source_uri.startswith("s3://labeling-test/project/labeling/uploads/2026-03-16/kim/")
    assert [(p.name, p.code) for p in problems] == [("batch.zip!/../../escape.json", "zip_unsafe_path")]
