"""train_handoff and daily_report through dag.test(): real PostgreSQL, training storage on disk, a real SMTP
server on loopback; the release verifies, is immutable, and emits ``training_dataset`` with its version."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
import yaml
from trainset.config import DEFAULT_CONFIG_PATH
from trainset.storage import LocalStorage
from trainset.train.verify import verify_release
from trainset_dev.demo.train import demo_summary
from trainset_dev.peers.mailsink import SmtpSink
from trainset_dev.seeds.train import seed_inspected_items

DAY = dt.date(2026, 3, 16)


@pytest.fixture
def smtp_sink():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def train_env(project_env, monkeypatch, smtp_sink):
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["report"] = {"recipients": ["pm@example.test", "lead@example.test"]}
    path = project_env.tmp_path / "project.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("TRAINSET_CONFIG", str(path))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_sink.airflow_connection())
    passed = seed_inspected_items(project_env.records, project_env.data_root / "warehouse",
                                  {"person": 8, "animal": 6, "vehicle": 5, "food": 4, "object": 3},
                                  session_size=2, failed_share=0.15, day=DAY, syntax_failures=1)
    return project_env, passed


def _asset_events(name: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                               .where(AssetModel.name == name).order_by(AssetEvent.id)).all()
        return [r[0] for r in rows]


def test_release_dag_then_immutable_then_daily_report(train_env, run_dag, smtp_sink):
    env, passed = train_env
    conn = env.records
    before = len(_asset_events("trainset://training_dataset"))

    run = run_dag("train_handoff", conf={"release_name": "it-rel", "split": {"train": 0.8, "validation": 0.1,
                                                                            "test": 0.1},
                                         "formats": ["coco", "yolo", "aihub"], "seed": 11})
    summary = run.get_task_instance("publish_release").xcom_pull(task_ids="publish_release")
    assert summary["version"] == "v1" and summary["counts"]["items"] == len(passed)
    root = env.data_root / "training"
    assert verify_release(LocalStorage(root), "it-rel") == []
    assert (root / "it-rel" / "datacard" / "index.html").is_file()
    gx = run.get_task_instance("check_release").xcom_pull(task_ids="check_release")
    assert gx["success"] and gx["failed"] == 0 and gx["evaluated"] > len(passed)
    events = _asset_events("trainset://training_dataset")
    assert len(events) == before + 1
    assert events[-1]["release"] == "it-rel" and events[-1]["version"] == "v1"
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT split) FROM release_items WHERE release_name = 'it-rel'")
        assert cur.fetchone() == (len(passed), 3)
    lines = demo_summary(conn)
    assert lines[-1].endswith("it-rel/datacard/index.html")
    with conn.cursor() as cur:  # pairs shot a minute apart are one capture session: never split apart
        cur.execute("SELECT count(*) FROM (SELECT group_key FROM release_plan_items GROUP BY group_key "
                    "HAVING count(*) > 1 AND count(DISTINCT split) = 1) g")
        assert cur.fetchone()[0] >= 5

    # The same name again (another run) is refused and changes nothing.
    manifest = (root / "it-rel" / "manifest.json").read_bytes()
    again = run_dag("train_handoff", conf={"release_name": "it-rel"}, expect="failed")
    assert str(again.get_task_instance("plan_split").state) == "failed"
    assert (root / "it-rel" / "manifest.json").read_bytes() == manifest
    assert len(_asset_events("trainset://training_dataset")) == before + 1
    # An automatic run (no name) with nothing new since it-rel skips: no empty re-release, no event.
    auto = run_dag("train_handoff", conf={"release_name": "", "seed": 11})
    assert {ti.task_id: str(ti.state) for ti in auto.get_task_instances()} == {
        "plan_split": "skipped", "publish_release": "skipped", "check_release": "skipped",
        "announce_release": "skipped"}
    assert len(_asset_events("trainset://training_dataset")) == before + 1

    # The PM's daily report: files in the reports root, one e-mail with both attached; a re-run sends nothing.
    report = run_dag("daily_report", conf={"day": "2026-03-17"})
    built = report.get_task_instance("annotation_data_to_csv").xcom_pull(task_ids="annotation_data_to_csv")
    assert built["key_numbers"]["server_inspected_today"] > 0
    mails = smtp_sink.received()
    assert len(mails) == 1
    mail = mails[0]
    assert sorted(mail.recipients) == ["lead@example.test", "pm@example.test"]
    assert "2026-03-17" in mail.subject
    attachments = mail.attachments()
    assert set(attachments) == {"progress_20260317.csv", "progress_20260317.xlsx"}
    csv_text = attachments["progress_20260317.csv"].decode("utf-8-sig")
    assert csv_text.splitlines()[0] == "day,stage,class_name,worker_id,items,passed,failed,pass_rate"
    assert ",inspection,person," in csv_text and ",first_inspection,person," in csv_text
    xlsx = env.tmp_path / "report.xlsx"
    xlsx.write_bytes(attachments["progress_20260317.xlsx"])
    wb = openpyxl.load_workbook(xlsx)
    assert wb.sheetnames == ["summary", "progress", "per_class", "rejections", "workers", "quality"]
    assert wb["progress"].max_row == len(csv_text.splitlines())
    assert "구문 정확성" in mail.html()
    with conn.cursor() as cur:
        cur.execute("SELECT status, attempts FROM notifications WHERE dedupe_key = 'daily_report:2026-03-17'")
        assert cur.fetchone() == ("sent", 1)
        cur.execute("SELECT file_uris FROM daily_reports WHERE report_day = '2026-03-17'")
        uris = cur.fetchone()[0]
    assert all(Path(u.removeprefix("file://")).is_file() for u in uris)
    assert json.loads(json.dumps(built["key_numbers"]))["releases_total"] == 1
