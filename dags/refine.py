"""refine (정제): turn raw photos into source data (원천데이터) in the warehouse.

Runs whenever collect emits ``raw_images`` (and on demand).  The images still ``raw`` are cut into batches of
``refine.batch_size``; each batch is one mapped task group that flows on its own:

1. ``exif_check`` — EXIF from the header (capture time, camera, GPS, orientation) and the image spec;
2. ``blur_check`` — sharpness, exposure, information and the perceptual hash against every earlier image;
3. ``judge_measurements`` — the GX suite ``include/expectations/refine_measurements.json`` judges the batch's
   measurement rows: each failing image gets the reason code of the expectation it failed (Data Docs logged);
4. ``quarantine_rejects`` — rejected images copied to ``<quarantine>/refine/<reason>/``;
5. ``anonymize_and_store`` — faces and plates masked, upright, EXIF stripped to the kept fields, renamed by the
   naming rule, resized and written to the warehouse; one summary line per batch.

Finally ``publish_source_images`` emits ``source_images`` with the run's counts.  A re-run changes nothing.
"""

from airflow.sdk import Param, dag, task_group
from trainset.config import get_config
from trainset.refine.judge import JUDGE_SQL, SUITE, record_verdicts, suite_parameters
from trainset_airflow.assets import raw_images
from trainset_airflow.defaults import default_args
from trainset_airflow.operators.gx import GxValidationOperator
from trainset_airflow.operators.refine import (
    AnonymizeOperator,
    BlurCheckOperator,
    ExifCheckOperator,
    PlanRefineBatchesOperator,
    PublishSourceImagesOperator,
    QuarantineRejectsOperator,
)

config = get_config()


@dag(
    dag_id="refine",
    schedule=[raw_images],
    catchup=False,
    max_active_runs=1,  # one planner at a time; batches of a run still run in parallel
    default_args=default_args(config),
    tags=["trainset", "refine", "stage-2"],
    doc_md=__doc__,
    params={
        "limit": Param(0, type="integer", minimum=0, title="Limit",
                       description="Refine at most this many raw images (0 = all)."),
        "classes": Param([], type="array", items={"type": "string", "enum": config.class_names},
                         title="Classes", description="Only these classes (empty = all)."),
    },
    render_template_as_native_obj=True,
)
def refine():
    plan = PlanRefineBatchesOperator(task_id="plan_batches", limit="{{ params.limit }}",
                                     classes="{{ params.classes }}")

    @task_group(group_id="batch")
    def refine_batch(batch_id):
        exif = ExifCheckOperator(task_id="exif_check", batch_id=batch_id)
        blur = BlurCheckOperator(task_id="blur_check", batch_id=batch_id)
        judge = GxValidationOperator(
            task_id="judge_measurements", sql=JUDGE_SQL, sql_params={"batch_id": "{{ task.batch_id }}"},
            suite_name=SUITE, id_column="image_id", parameters=suite_parameters,
            record_with=record_verdicts, batch_id=batch_id,
        )
        quarantine = QuarantineRejectsOperator(task_id="quarantine_rejects", batch_id=batch_id)
        store = AnonymizeOperator(task_id="anonymize_and_store", batch_id=batch_id)
        exif >> blur >> judge >> quarantine >> store

    batches = refine_batch.expand(batch_id=plan.output)
    publish = PublishSourceImagesOperator(task_id="publish_source_images", trigger_rule="none_failed")
    batches >> publish


refine()
