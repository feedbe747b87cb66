"""The inspection stage's operators over the real records DB, the S3 protocol server (the inspection server's
bucket), local storage roots and the Slack endpoint: transfer → verdicts → notices, gallery, event; bulk fixes."""

from __future__ import annotations

import uuid

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from trainset_airflow.assets import inspection_passed
from trainset_airflow.operators.inspection import (
    BulkFixOperator,
    InspectionGalleryOperator,
    PublishInspectionPassedOperator,
    ReworkNoticeOperator,
    VerdictIngestOperator,
)
from trainset_airflow.operators.transfer import ServerTransferOperator
from trainset_dev.seeds.inspection import seed_passed_items

SPECS = [("TS_person_20260314_000001", "person", "w1"), ("TS_food_20260314_000002", "food", "w2"),
         ("TS_animal_20260314_000003", "animal", "w1")]


@pytest.fixture
def on_server(project_env, monkeypatch):
    """Seeded first-inspection passes and an inspection server bucket of this test's own."""
    bucket = f"insp-op-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("TRAINSET_INSPECTION_URI", f"s3://{bucket}/incoming")
    seed_passed_items(project_env.records, project_env.data_root, SPECS, workers={"w1": "U0W1", "w2": None})
    return project_env, bucket


def _transfer_and_verdicts(env, bucket, task_context, csv_text: str) -> dict:
    ServerTransferOperator(task_id="labeling_validation_batch").execute(task_context())
    env.s3.client().put_object(Bucket=bucket, Key="incoming/verdicts/2026-03-15.csv", Body=csv_text.encode())
    return VerdictIngestOperator(task_id="labeling_verdicts", only_day="2026-03-15").execute(task_context())


def test_transfer_sends_the_templated_items_once(on_server, task_context):
    env, bucket = on_server
    op = ServerTransferOperator(task_id="labeling_validation_batch", item_keys=f" {SPECS[0][0]}, {SPECS[1][0]} ,")
    sent = op.execute(task_context(run_id="manual__t1"))
    assert (sent["batch_id"], sent["items"], sent["uploaded"], sent["failed"]) == ("inspection__manual__t1", 2, 4, 0)
    assert sent["manifest_csv"].startswith(f"s3://{bucket}/incoming/")
    again = ServerTransferOperator(task_id="labeling_validation_batch").execute(task_context(run_id="manual__t2"))
    assert (again["items"], again.get("skipped"), again.get("uploaded")) == (3, 4, 2)  # only the third item is new


def test_verdicts_notices_gallery_and_the_passed_event(on_server, task_context):
    env, bucket = on_server
    counts = _transfer_and_verdicts(env, bucket, task_context, (
        "item_key,verdict,reason_category,reason_code,comment,inspector\n"
        f"{SPECS[0][0]},fail,annotation,,박스가 너무 큼,insp1\n{SPECS[1][0]},pass,,,,insp1\n"
        f"{SPECS[2][0]},pass,,,,insp1\nTS_unknown_1,pass,,,,insp1\n"))
    assert (counts["recorded"], counts["passed"], counts["failed"], counts["days"]) == (
        3, 2, {"annotation": 1}, ["2026-03-15"])
    assert counts["rejected"] == {"verdict_unknown_item": 1}

    notices = ReworkNoticeOperator(task_id="validation_labeling").execute(task_context())
    assert notices == {"planned": 1, "sent": 1, "failed": 0}
    [message] = env.slack.messages("chat.postMessage")
    assert message.body["channel"] == "U0W1" and SPECS[0][0] in message.text and "박스가 너무 큼" in message.text
    assert ReworkNoticeOperator(task_id="validation_labeling").execute(task_context())["sent"] == 0  # once

    verdicts = {"labeling_verdicts": counts}
    gallery = InspectionGalleryOperator(task_id="labeling_show", verdict_task_id="labeling_verdicts")
    pages = gallery.execute(task_context(xcoms=verdicts))["pages"]
    assert list(pages) == ["2026-03-15"]
    page = env.data_root / "reports" / "inspection" / "gallery" / "2026-03-15" / "index.html"
    assert pages["2026-03-15"].endswith("inspection/gallery/2026-03-15/index.html") and page.is_file()
    assert SPECS[0][0] in page.read_text(encoding="utf-8")

    context = task_context(xcoms=verdicts)
    extra = PublishInspectionPassedOperator(task_id="publish", verdict_task_id="labeling_verdicts").execute(context)
    assert extra == {"new_passes": 2, "total_passed": 2, "days": ["2026-03-15"], "failed": {"annotation": 1}}
    assert context["outlet_events"][inspection_passed].extra == extra


def test_publish_skips_without_new_passes(project_env, task_context):
    op = PublishInspectionPassedOperator(task_id="publish", verdict_task_id="labeling_verdicts")
    with pytest.raises(AirflowSkipException, match="no new inspection passes"):
        op.execute(task_context(xcoms={"labeling_verdicts": {"passed": 0, "days": []}}))


def test_gallery_without_verdict_days_shows_the_run_day(project_env, task_context):
    op = InspectionGalleryOperator(task_id="labeling_show", verdict="all")
    assert op.execute(task_context()) == {"pages": {}}  # 2026-12-01 (the context's run day) has no verdicts


def test_bulk_fix_dry_run_and_a_malformed_rule(on_server, task_context):
    env, _ = on_server
    op = BulkFixOperator(task_id="json_dump", rules=["rename_class:food=object"], dry_run="true")
    result = op.execute(task_context())
    assert (result["dry_run"], result["scanned"], result["matched"], result["written"]) == (True, 3, 1, 0)
    with pytest.raises(AirflowFailException, match="rename_class"):
        BulkFixOperator(task_id="json_dump", rules="rename_class:nothing").execute(task_context())
    with pytest.raises(AirflowFailException, match="no rules given"):
        BulkFixOperator(task_id="json_dump", rules=" , ").execute(task_context())
