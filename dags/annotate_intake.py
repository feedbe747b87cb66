"""annotate_intake (가공): the daily labeling operations over the warehouse's refined images.

Every task works on the run's **work date**: the ``work_date`` param when given, else the run's day
(``trainset_airflow.runday.run_day``: its logical date or ``run_after`` in the project time zone), so catch-up,
backfill and re-runs address their own day, never "today".

1. ``labeling_distribution`` — sync the roster (``annotate.roster_path``), assign the day's work (capacity-
   balanced, skills, employment window, classes behind schedule first; deterministic) and write each worker's
   list to ``<labeling>/assignments/<date>/<worker>.csv``.
2. ``labeling_finished`` — wait for the upload due time (``schedules.labeling_upload_due``), compare assignments
   with ``<labeling>/uploads/<date>/<worker>/``, one Slack message per worker with missing items (sent once).
3. ``labeling_validation`` — read the uploads (zips safely), JSON-Schema validation and normalisation
   (``validate_schema``), then the GX suite ``annotation_rules`` judges the flattened annotation table
   (``first_inspection``; Data Docs under ``<reports>/data_docs``).
   ``quality_assignments`` then mixes hidden GT items and consensus replicas into the lists (품질관리).
4. ``labeling_refinement_validation`` — repair refinement-caused failures where certain, second inspection;
   ``quality_scores`` scores GT uploads (set aside, never released), merges consensus replicas, per-labeler
   daily/rolling scores; ``quality_gate`` (GX suite ``labeler_quality``) gates labelers below the rolling
   accuracy target and ``quality_notify`` tells the PM once; beside them ``quality_gallery`` publishes the GT
   vs labeler and replica vs replica overlays (hints beside each image) to
   ``<reports>/quality/gallery/<date>/index.html``; then accepted labels, quarantine, rework
   queue, the PM's tables (``labeling_daily_results``,
   ``labeling_daily_reasons``, view ``labeling_syntax_accuracy``) and the ``first_inspection_passed`` Asset.

A dry run computes the distribution and the upload check without writing or sending, and skips the rest.
"""

from airflow.providers.standard.sensors.date_time import DateTimeSensor
from airflow.sdk import Param, dag, task, task_group
from trainset.annotate.first_inspection import record_first_inspection
from trainset.annotate.rules import SUITE_NAME, suite_parameters
from trainset.config import get_config
from trainset.quality.gating import GATING_SQL, GATING_SUITE, gating_parameters, record_gating
from trainset_airflow.defaults import cron_schedule, default_args
from trainset_airflow.operators.annotate import (
    AnnotationSchemaValidationOperator,
    LabelingDistributionOperator,
    LabelingResultsOperator,
    RefinementRemedyOperator,
    UploadCheckOperator,
)
from trainset_airflow.operators.gx import GxValidationOperator
from trainset_airflow.operators.quality import (
    QualityAssignmentOperator,
    QualityGalleryOperator,
    QualityNotifyOperator,
    QualityScoreOperator,
)

config = get_config()
WORK_DATE = "{{ ti.xcom_pull(task_ids='resolve_work_date')['work_date'] }}"


@dag(
    dag_id="annotate_intake",
    # No start_date: unpausing waits for the next tick (a past day is a backfill or a run with work_date).
    schedule=cron_schedule(config.schedules.annotate_intake, config),
    catchup=False,
    max_active_runs=1,  # days build on each other (what is left to assign, the rework queue)
    default_args=default_args(config),
    tags=["trainset", "annotate", "stage-3"],
    doc_md=__doc__,
    params={
        "work_date": Param(None, type=["null", "string"], format="date", title="Work date",
                           description="Day to process (YYYY-MM-DD). Empty: the run's date in the project time zone."),
        "dry_run": Param(False, type="boolean", title="Dry run",
                         description="Compute the distribution and the upload check only: write and send nothing."),
        "wait_for_due": Param(True, type="boolean", title="Wait for the upload due time",
                              description="Off: check uploads now instead of at schedules.labeling_upload_due."),
        "notify": Param(True, type="boolean", title="Send Slack messages",
                        description="Off: report missing uploads in the log only."),
    },
)
def annotate_intake():
    @task(multiple_outputs=False)  # one dict; templates read ['work_date'] / ['due_at']
    def resolve_work_date(**context) -> dict:
        from trainset.annotate.workday import work_day_times
        from trainset_airflow.runday import run_day

        cfg, params = get_config(), context["params"]
        return work_day_times(cfg, run_day(context, cfg, params.get("work_date")),
                              wait_for_due=params.get("wait_for_due", True))

    @task_group(group_id="labeling_distribution")
    def labeling_distribution():
        distribute = LabelingDistributionOperator(task_id="distribute", work_date=WORK_DATE,
                                                  dry_run="{{ params.dry_run }}")
        # Hidden GT items and consensus replicas (품질관리); a dry run adds none.
        quality = QualityAssignmentOperator(task_id="quality_assignments", work_date=WORK_DATE,
                                            dry_run="{{ params.dry_run }}")
        distribute >> quality

    @task_group(group_id="labeling_finished")
    def labeling_finished():
        wait = DateTimeSensor(task_id="wait_until_due",
                              target_time="{{ ti.xcom_pull(task_ids='resolve_work_date')['due_at'] }}",
                              mode="reschedule", poke_interval=600, timeout=60 * 60 * 24)
        check = UploadCheckOperator(task_id="check_uploads", work_date=WORK_DATE,
                                    notify="{{ params.notify and not params.dry_run }}")
        wait >> check

    @task.short_circuit
    def not_dry_run(params=None) -> bool:
        return not params.get("dry_run")

    @task_group(group_id="labeling_validation")
    def labeling_validation():
        schema = AnnotationSchemaValidationOperator(task_id="validate_schema", work_date=WORK_DATE)
        rules = GxValidationOperator(
            task_id="first_inspection",
            sql="SELECT * FROM annotation_rule_rows WHERE work_date = %(day)s ORDER BY row_id",
            sql_params={"day": WORK_DATE}, suite_name=SUITE_NAME, id_column="row_id", parameters=suite_parameters,
            record_with=record_first_inspection,
            batch_id="annotate_intake__" + WORK_DATE,
        )
        schema >> rules

    @task_group(group_id="labeling_refinement_validation")
    def labeling_refinement_validation():
        repair = RefinementRemedyOperator(task_id="repair_and_reinspect", work_date=WORK_DATE)
        scores = QualityScoreOperator(task_id="quality_scores", work_date=WORK_DATE)
        gate = GxValidationOperator(
            task_id="quality_gate", sql=GATING_SQL, sql_params={"day": WORK_DATE}, suite_name=GATING_SUITE,
            id_column="worker_id", parameters=gating_parameters,
            record_with=record_gating, batch_id="annotate_intake__" + WORK_DATE,
        )
        notify = QualityNotifyOperator(task_id="quality_notify", work_date=WORK_DATE, notify="{{ params.notify }}")
        publish = LabelingResultsOperator(task_id="publish_results", work_date=WORK_DATE)
        # The overlays read the scores only; a side branch, so nothing downstream waits for the rendering.
        gallery = QualityGalleryOperator(task_id="quality_gallery", work_date=WORK_DATE)
        repair >> scores >> gate >> notify >> publish  # GT uploads are set aside before anything is accepted
        scores >> gallery

    day = resolve_work_date()
    day >> labeling_distribution() >> labeling_finished() >> not_dry_run() >> labeling_validation() \
        >> labeling_refinement_validation()


annotate_intake()
