"""annotate_intake operators: each runs one step of ``trainset.annotate`` on ``TrainsetStepOperator``.

Every operator takes ``work_date`` (templated, ``YYYY-MM-DD``; empty = the run's day, ``trainset_airflow.runday.run_day``:
its logical date or ``run_after`` in the project time zone, never "today"), so catch-up, backfill and re-runs address the right day.
"""

from __future__ import annotations

from collections.abc import Sequence

from trainset.annotate.distribute import distribution_step
from trainset.annotate.ingest import ingest_step
from trainset.annotate.publish import publish_step
from trainset.annotate.remedies import remedy_step
from trainset.annotate.upload_check import upload_check_step

from trainset_airflow.assets import first_inspection_passed
from trainset_airflow.operators.base import TrainsetStepOperator


class LabelingDistributionOperator(TrainsetStepOperator):
    """Sync the roster, assign the day's work, write each worker's list to ``labeling/assignments/<date>/``.

    :param dry_run: compute and log the assignment; write nothing.
    """

    step = staticmethod(distribution_step)
    template_fields: Sequence[str] = ("work_date", "dry_run")
    arg_kinds = {"dry_run": "flag"}
    ui_color = "#f3e8fa"

    def __init__(self, *, dry_run: bool | str = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run


class UploadCheckOperator(TrainsetStepOperator):
    """Compare the day's assignments with the uploads; one Slack bot message per worker with missing items (DM to
    the roster's Slack user id, else the labeling channel), sent once per worker and day (``notifications``).

    :param slack_conn_id: Slack API connection (default ``config.connections.slack_api``).
    :param notify: send messages (False: only report).
    """

    step = staticmethod(upload_check_step)
    template_fields: Sequence[str] = ("work_date", "notify")
    arg_kinds = {"notify": "flag"}
    ui_color = "#f3e8fa"

    def __init__(self, *, notify: bool | str = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.notify = notify


class AnnotationSchemaValidationOperator(TrainsetStepOperator):
    """Read the day's uploads (folders or S3 prefixes per worker; zips safely), validate each label against its
    JSON Schema (``include/schemas``), normalise to the canonical model, record ``annotations`` and rebuild the
    flattened table ``annotation_rule_rows`` that the GX suite judges next."""

    step = staticmethod(ingest_step)
    ui_color = "#f3e8fa"


class RefinementRemedyOperator(TrainsetStepOperator):
    """Repair failures caused by refinement (label names the pre-rename file; image resized after labeling) when
    the fix is certain, record the repair, and run the rules again (second inspection)."""

    step = staticmethod(remedy_step)
    ui_color = "#f3e8fa"


class LabelingResultsOperator(TrainsetStepOperator):
    """Write accepted labels, quarantine failures, fill the rework queue and the PM's daily tables, and emit
    ``first_inspection_passed`` with the day's counts."""

    step = staticmethod(publish_step)
    outlet = first_inspection_passed
    ui_color = "#f3e8fa"
