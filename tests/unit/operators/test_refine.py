"""The refine operators over the real records DB and local storage roots: one batch through every task of the
DAG's task group (the GX task with refine's own recorder), the run's event, and the arguments' coercion."""

from __future__ import annotations

import io

import pytest
from airflow.sdk.exceptions import AirflowFailException
from PIL import Image
from trainset.config import get_config
from trainset.refine.judge import JUDGE_SQL, SUITE, record_verdicts, suite_parameters
from trainset_airflow.assets import source_images
from trainset_airflow.operators.collect import DropZoneCollectOperator
from trainset_airflow.operators.gx import GxValidationOperator
from trainset_airflow.operators.refine import (
    AnonymizeOperator,
    BlurCheckOperator,
    ExifCheckOperator,
    PlanRefineBatchesOperator,
    PublishSourceImagesOperator,
    QuarantineRejectsOperator,
)
from trainset_dev.photos import write_drop_zone


@pytest.fixture
def raw_images(project_env, task_context):
    """Three generated photos and a re-encoded copy of the first (new bytes: collect accepts it, refine rejects
    it as a near duplicate)."""
    config = get_config()
    drop = project_env.data_root / "drop_zone"
    first = drop / write_drop_zone(drop, 3, config.class_names[:2])[0]
    buf = io.BytesIO()
    with Image.open(first) as im:
        im.save(buf, "JPEG", quality=60, exif=im.getexif())
    first.with_name("copy.jpg").write_bytes(buf.getvalue())
    DropZoneCollectOperator(task_id="collect").execute(task_context())
    return config


def _statuses(conn) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT status, count(*) FROM images GROUP BY status")
        return dict(cur.fetchall())


def test_one_batch_through_every_refine_task(project_env, raw_images, task_context):
    context = task_context()
    batches = PlanRefineBatchesOperator(task_id="plan_batches", limit="0", classes="").execute(context)
    assert len(batches) == 1 and batches[0].startswith("refine__manual__")
    [batch_id] = batches

    exif = ExifCheckOperator(task_id="exif_check", batch_id=batch_id).execute(context)
    assert exif["measured"] == 4
    blur = BlurCheckOperator(task_id="blur_check", batch_id=batch_id).execute(context)
    assert blur == {"measured": 0, "near_duplicates": 1}, "the exif task measured; blur reuses the rows"
    judged = GxValidationOperator(task_id="judge_measurements", sql=JUDGE_SQL, sql_params={"batch_id": batch_id},
                                  suite_name=SUITE, id_column="image_id", parameters=suite_parameters,
                                  record_with=record_verdicts, batch_id=batch_id, docs_dir="").execute(context)
    assert judged["recorded"] == {"judged": 4, "passed": 3, "rejected": 1}
    copied = QuarantineRejectsOperator(task_id="quarantine_rejects", batch_id=batch_id).execute(context)
    assert copied == 1
    assert list((project_env.data_root / "quarantine" / "refine" / "near_duplicate").iterdir())
    summary = AnonymizeOperator(task_id="anonymize_and_store", batch_id=batch_id).execute(context)
    assert summary["batch_id"] == batch_id and (summary["index"], summary["total"]) == (1, 1)
    assert summary["images"] == 4 and summary["passed"] == 3 and summary["reasons"] == {"near_duplicate": 1}
    assert _statuses(project_env.records) == {"refined": 3, "rejected": 1}

    counts = PublishSourceImagesOperator(task_id="publish_source_images").execute(context)
    assert counts["images"] == 4 and counts["refined"] == 3 and counts["reasons"] == {"near_duplicate": 1}
    assert context["outlet_events"][source_images].extra == counts

    # A re-run of the run plans nothing new and changes no image.
    before = _statuses(project_env.records)
    assert PlanRefineBatchesOperator(task_id="plan_batches").execute(context) == []
    assert _statuses(project_env.records) == before


def test_unknown_class_fails_without_retry(project_env, raw_images, task_context):
    op = PlanRefineBatchesOperator(task_id="plan_batches", classes="person,zebra")
    with pytest.raises(AirflowFailException, match="zebra"):
        op.execute(task_context())


def test_plan_arguments_arrive_coerced(project_env):
    # Rendered templates arrive as text (or a native list with render_template_as_native_obj).
    assert PlanRefineBatchesOperator(task_id="p", limit="5", classes="person, animal").step_args() == {
        "limit": 5, "classes": ["person", "animal"]}
    assert PlanRefineBatchesOperator(task_id="p", limit=0, classes=["vehicle"]).step_args() == {
        "limit": 0, "classes": ["vehicle"]}
    assert ExifCheckOperator(task_id="e", batch_id="refine__r__0001").step_args() == {"batch_id": "refine__r__0001"}


def test_the_dags_templates_render_to_the_step_arguments():
    # As in dags/refine.py: Params rendered as native objects (a list stays a list, a number a number).
    from airflow.sdk import DAG

    with DAG("refine_templates", render_template_as_native_obj=True, schedule=None):
        plan = PlanRefineBatchesOperator(task_id="plan_batches", limit="{{ params.limit }}",
                                         classes="{{ params.classes }}")
        exif = ExifCheckOperator(task_id="exif_check", batch_id="{{ params.batch }}")
    context = {"params": {"limit": 5, "classes": ["person", "animal"], "batch": "refine__r__0001"}}
    plan.render_template_fields(context)
    exif.render_template_fields(context)
    assert plan.step_args() == {"limit": 5, "classes": ["person", "animal"]}
    assert exif.step_args() == {"batch_id": "refine__r__0001"}
