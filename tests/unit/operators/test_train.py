"""The train-handoff and daily-report operators over the real records DB and local storage roots: plan (templated
arguments) → publish → suite → announce, the skips, and the report built and e-mailed once (a local SMTP sink)."""

from __future__ import annotations

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from trainset.config import DEFAULT_CONFIG_PATH
from trainset_airflow.assets import training_dataset
from trainset_airflow.operators.train import (
    AnnounceReleaseOperator,
    DailyReportOperator,
    EmailReportOperator,
    PlanReleaseOperator,
    PublishReleaseOperator,
    ReleaseSuiteOperator,
)
from trainset_dev.peers.mailsink import SmtpSink
from trainset_dev.seeds.train import seed_inspected_items


@pytest.fixture
def passed(project_env):
    return seed_inspected_items(project_env.records, project_env.data_root / "warehouse",
                                {"person": 6, "animal": 5, "vehicle": 4}, session_size=2)


def test_plan_publish_check_announce(project_env, passed, task_context):
    plan = PlanReleaseOperator(task_id="plan_split", release_name="op-rel", ratios='{"train": 0.6, "validation": 0.2, '
                               '"test": 0.2}', formats="coco, yolo", seed="5").execute(task_context())
    assert (plan["release"], plan["items"], plan["formats"], plan["seed"]) == ("op-rel", len(passed), ["coco", "yolo"], 5)
    assert plan["ratios"] == {"train": 0.6, "validation": 0.2, "test": 0.2} and plan["leak_check_passed"]

    published = PublishReleaseOperator(task_id="publish_release", plan_task_id="plan_split").execute(
        task_context(xcoms={"plan_split": plan}))
    assert published["release"] == "op-rel" and published["counts"]["items"] == len(passed)
    assert (project_env.data_root / "training" / "op-rel" / "manifest.json").is_file()

    upstream = {"publish_release": published}
    outcome = ReleaseSuiteOperator(task_id="check_release", publish_task_id="publish_release").execute(
        task_context(xcoms=upstream))
    assert outcome["success"] is True

    context = task_context(xcoms=upstream)
    extra = AnnounceReleaseOperator(task_id="announce_release", publish_task_id="publish_release").execute(context)
    assert (extra["release"], extra["counts"]["items"]) == ("op-rel", len(passed))
    assert context["outlet_events"][training_dataset].extra == extra

    # The name is taken: fails without retry; an unnamed run with nothing new skips.
    with pytest.raises(AirflowFailException, match="already exists"):
        PlanReleaseOperator(task_id="plan_split", release_name="op-rel").execute(task_context(run_id="other"))
    with pytest.raises(AirflowSkipException, match="nothing changed"):
        PlanReleaseOperator(task_id="plan_split", ratios='{"train": 0.6, "validation": 0.2, "test": 0.2}',
                            formats=["coco", "yolo"], seed=5).execute(task_context(run_id="auto"))


def test_a_failing_release_is_marked_invalid(project_env, passed, task_context):
    plan = PlanReleaseOperator(task_id="plan_split", release_name="bad-rel").execute(task_context())
    published = PublishReleaseOperator(task_id="publish_release", plan_task_id="plan_split").execute(
        task_context(xcoms={"plan_split": plan}))
    (project_env.data_root / "training" / "bad-rel" / "items.csv").write_text("tampered\n", encoding="utf-8")
    with pytest.raises(AirflowFailException, match="fails train_release"):
        ReleaseSuiteOperator(task_id="check_release", publish_task_id="publish_release").execute(
            task_context(xcoms={"publish_release": published}))
    with project_env.records.cursor() as cur:
        cur.execute("SELECT status FROM release_builds WHERE release_name = 'bad-rel'")
        assert cur.fetchone() == ("invalid",)


def test_nothing_planned_or_published_skips(project_env, task_context):
    for op in (PublishReleaseOperator(task_id="p", plan_task_id="plan_split"),
               ReleaseSuiteOperator(task_id="c", publish_task_id="publish_release"),
               AnnounceReleaseOperator(task_id="a", publish_task_id="publish_release")):
        with pytest.raises(AirflowSkipException, match="nothing was"):
            op.execute(task_context())
    with pytest.raises(AirflowSkipException, match="no item has passed"):
        PlanReleaseOperator(task_id="plan_split").execute(task_context())


def test_daily_report_built_then_mailed_once(project_env, passed, task_context, monkeypatch):
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["report"] = {"recipients": ["pm@example.test"]}
    path = project_env.tmp_path / "project.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("TRAINSET_CONFIG", str(path))
    built = DailyReportOperator(task_id="annotation_data_to_csv", day="2026-03-16").execute(task_context())
    assert built["day"] == "2026-03-16" and built["rows"] > 0
    assert [u.rsplit("/", 1)[-1] for u in built["files"]] == ["progress_20260316.csv", "progress_20260316.xlsx"]
    assert (project_env.data_root / "reports" / "daily" / "2026-03-16" / "quality_20260316.csv").is_file()
    with SmtpSink() as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", sink.airflow_connection())
        upstream = task_context(xcoms={"annotation_data_to_csv": built})
        first = EmailReportOperator(task_id="email_report", build_task_id="annotation_data_to_csv").execute(upstream)
        second = EmailReportOperator(task_id="email_report", build_task_id="annotation_data_to_csv").execute(upstream)
        mails = sink.received()
    assert (first["status"], second["status"]) == ("sent", "already_sent")
    assert len(mails) == 1 and mails[0].recipients == ["pm@example.test"]
    assert set(mails[0].attachments()) == {"progress_20260316.csv", "progress_20260316.xlsx"}
    # No recipients configured: nothing to send, skipped.
    with pytest.raises(AirflowSkipException, match="no recipients"):
        data["report"] = {"recipients": []}
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        EmailReportOperator(task_id="email_report", build_task_id="annotation_data_to_csv").execute(upstream)
