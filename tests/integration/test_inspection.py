"""inspection and json_dump through dag.test(): a real S3 protocol server (moto), PostgreSQL and a Slack endpoint."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
import yaml
from trainset.config import DEFAULT_CONFIG_PATH, load_config
from trainset_dev.demo.inspection import demo_summary, simulate_inspector
from trainset_dev.seeds.inspection import seed_passed_items

SPECS = [(f"TS_{cls}_20260314_{n:06d}", cls, worker) for n, (cls, worker) in enumerate(
    [("person", "w1"), ("person", "w1"), ("animal", "w1"), ("animal", "w2"), ("vehicle", "w2"), ("vehicle", "w2"),
     ("food", "w3"), ("food", "w3"), ("object", "w3"), ("object", "w1"), ("person", "w2"), ("animal", "w3")], 1)]


@pytest.fixture
def inspection_env(project_env, monkeypatch):
    bucket = f"insp-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("TRAINSET_INSPECTION_URI", f"s3://{bucket}/incoming")
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data.setdefault("inspection", {}).update({"notice_retry_delay_s": 0.01, "retry_base_delay_s": 0.01})
    path = project_env.tmp_path / "project.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("TRAINSET_CONFIG", str(path))
    items = seed_passed_items(project_env.records, project_env.data_root, SPECS,
                              workers={"w1": "U0W1", "w2": "U0W2", "w3": None})
    return project_env, load_config(path), bucket, items


def _one(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def test_inspection_dag_end_to_end(inspection_env, run_dag):
    env, config, bucket, items = inspection_env
    conn = env.records
    s3 = env.s3.client()

    # Run 1: everything is sent (the bucket is created), no verdicts yet, nothing to publish.
    first = run_dag("inspection")
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len([k for k in objects if "_manifests/" not in k]) == 2 * len(SPECS)
    assert str(first.get_task_instance("publish_inspection_passed").state) == "skipped"
    assert _one(conn, "SELECT count(*) FROM transfers WHERE status = 'verified' AND kind <> 'manifest'") == [(24,)]

    # The inspectors publish the day's verdicts; run 2 ingests, routes, renders and checks while Slack is down:
    # the run still succeeds and the notices stay recorded as failed.
    day = dt.date(2026, 3, 15)
    published = simulate_inspector(conn, config, s3, day)
    assert published["items"] == len(SPECS) and published["malformed"] == 1
    env.slack.down = True
    try:
        second = run_dag("inspection")
    finally:
        env.slack.down = False
    assert str(second.get_task_instance("validation_labeling").state) == "success"
    assert str(second.get_task_instance("publish_inspection_passed").state) == "success"
    assert env.slack.messages("chat.postMessage") == []
    failed = _one(conn, "SELECT count(*), min(attempts) FROM notifications WHERE status = 'failed'")[0]
    assert failed[0] >= 1 and failed[1] == config.inspection.notice_max_attempts
    verdicts = dict(_one(conn, "SELECT item_key, verdict FROM inspections WHERE round = 'server'"))
    assert len(verdicts) == len(SPECS)
    fails = {k for k, v in verdicts.items() if v == "fail"}
    assert fails and len(fails) < len(SPECS)
    assert _one(conn, "SELECT reason_code FROM quarantine WHERE entity_kind = 'verdict'") == [("verdict_unknown_item",)]

    # The gallery of the day's failures: its path is in the task's XCom and log, and it shows them.
    pages = second.get_task_instance("labeling_show").xcom_pull(task_ids="labeling_show")["pages"]
    page = Path(pages[day.isoformat()].removeprefix("file://"))
    html = page.read_text(encoding="utf-8")
    assert all(k in html for k in fails)
    assert len(list((page.parent / "items").iterdir())) == len(fails)

    # GX checks ran in both runs and found nothing wrong.
    checks = dict(_one(conn, "SELECT batch_id, counts FROM batches WHERE stage = 'inspection_check'"))
    assert len(checks) == 4 and all(c["success"] for c in checks.values()), checks

    # Run 3, Slack back: the pending notices go out, one per labeler with annotation failures, their items only;
    # nothing else is new (no upload, no verdict, no Asset event).
    transfers_before = _one(conn, "SELECT count(*), sum(attempts) FROM transfers WHERE kind <> 'manifest'")
    third = run_dag("inspection")
    rework = _one(conn, "SELECT r.item_key, w.slack_user_id FROM inspection_rework r "
                        "JOIN workers w USING (worker_id) WHERE routed_to = 'labeler'")
    by_recipient: dict[str, set[str]] = {}
    for key, slack in rework:
        by_recipient.setdefault(slack or config.slack.labeling, set()).add(key)
    messages = env.slack.messages("chat.postMessage")
    assert sorted(m.body["channel"] for m in messages) == sorted(by_recipient)
    for m in messages:
        assert {k for k, *_ in SPECS if k in m.text} == by_recipient[m.body["channel"]]
    assert _one(conn, "SELECT DISTINCT status FROM notifications") == [("sent",)]
    assert _one(conn, "SELECT count(*), sum(attempts) FROM transfers WHERE kind <> 'manifest'") == transfers_before
    assert str(third.get_task_instance("publish_inspection_passed").state) == "skipped"

    summary = "\n".join(demo_summary(conn))
    assert f"{len(SPECS)} items on the inspection server" in summary and f"{len(SPECS) - len(fails)} passed" in summary
    assert "rework notices: sent" in summary


def test_json_dump_dag_dry_run_then_real_run(inspection_env, run_dag):
    env, config, bucket, items = inspection_env
    target = items[0].label_path
    doc = json.loads(target.read_text(encoding="utf-8"))
    doc["annotations"][0]["bbox"] = [50, 6, 90, 30]  # past the right edge of the 96 px image
    target.write_text(json.dumps(doc), encoding="utf-8")
    before = {p: p.read_bytes() for p in target.parent.iterdir()}

    run_dag("json_dump", conf={"rules": ["clamp_boxes"], "dry_run": True})
    assert {p: p.read_bytes() for p in target.parent.iterdir()} == before
    assert _one(env.records, "SELECT count(*) FROM annotation_fixes") == [(0,)]

    run_dag("json_dump", conf={"rules": ["clamp_boxes"], "dry_run": False})
    after = {p: p.read_bytes() for p in target.parent.iterdir()}
    assert [p for p in after if after[p] != before[p]] == [target]
    assert json.loads(after[target])["annotations"][0]["bbox"] == [50, 6, 46, 30]
    assert _one(env.records, "SELECT item_key, revalidated FROM annotation_fixes") == [(items[0].item_key, True)]
    backups = list((env.data_root / "reports" / "bulkfix").rglob("originals/**/*.json"))
    assert len(backups) == 1 and backups[0].read_bytes() == before[target]
