"""The inspection stage's operators (thin over ``trainset.inspection``): verdict ingestion, rework notices on
Slack, the gallery of the day's failures, bulk fixes, and the ``inspection_passed`` Asset."""

from __future__ import annotations

from collections.abc import Sequence

from trainset.inspection.bulkfix import bulkfix_step
from trainset.inspection.rework import rework_step
from trainset.inspection.verdicts import publish_passed_step, verdicts_step
from trainset.inspection.viewer import gallery_step

from trainset_airflow.assets import inspection_passed
from trainset_airflow.operators.base import TrainsetStepOperator


class VerdictIngestOperator(TrainsetStepOperator):
    """Read the server's verdict files not ingested yet, reject bad rows into quarantine with a reason, record
    the good ones and route failures (annotation → labeler rework queue, refinement/image → refine's queue).

    :param verdict_uri: where the verdict files are; default ``<storage.inspection_server>/<verdict_prefix>``.
    :param only_day: ingest only the file of this day (YYYY-MM-DD); default every new file.
    """

    step = staticmethod(verdicts_step)
    template_fields: Sequence[str] = ("verdict_uri", "only_day")
    arg_kinds = {"verdict_uri": "text", "only_day": "date"}
    ui_color = "#e4f5e1"

    def __init__(self, *, verdict_uri: str | None = None, only_day: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.verdict_uri = verdict_uri
        self.only_day = only_day


class ReworkNoticeOperator(TrainsetStepOperator):
    """One Slack bot message per labeler with annotation failures (items + inspectors' comments), once.  A Slack
    outage is retried and recorded; it never fails this task (the notices go out on a later run)."""

    step = staticmethod(rework_step)
    ui_color = "#f9e0f0"


class InspectionGalleryOperator(TrainsetStepOperator):
    """Render the day's failed items (boxes, polygons, Korean class names), contact sheets per class / worker /
    reason and an HTML gallery under ``<reports>/inspection/gallery/<day>/``; logs the page's path.

    :param verdict_task_id: the ingestion task; the days it recorded are rendered (default: the run's day).
    :param verdict: fail (default), pass or all.
    """

    step = staticmethod(gallery_step)
    template_fields: Sequence[str] = ("verdict",)
    arg_kinds = {"verdict": "text"}
    ui_color = "#e7e3f7"

    def __init__(self, *, verdict_task_id: str | None = None, verdict: str = "fail", **kwargs) -> None:
        if verdict_task_id:
            kwargs.setdefault("xcom_from", {"verdicts": verdict_task_id})
        super().__init__(**kwargs)
        self.verdict_task_id = verdict_task_id
        self.verdict = verdict


class PublishInspectionPassedOperator(TrainsetStepOperator):
    """Emit ``inspection_passed`` (with the counts) when the verdicts recorded new passes; skip otherwise, so the
    train-handoff stage is not triggered by a day without news."""

    step = staticmethod(publish_passed_step)
    outlet = inspection_passed
    ui_color = "#d5f5e3"

    def __init__(self, *, verdict_task_id: str, **kwargs) -> None:
        kwargs.setdefault("xcom_from", {"verdicts": verdict_task_id})
        super().__init__(**kwargs)
        self.verdict_task_id = verdict_task_id


class BulkFixOperator(TrainsetStepOperator):
    """Apply rule-based fixes to many annotation files (``json_dump``); dry run by default.

    :param rules: list of rule specs (``rename_class:OLD=NEW``, ``drop_attribute:NAME[@CLASS]``, ``clamp_boxes``,
        ``set_meta:PATH=VALUE``).
    :param root: storage root of the files; default ``storage.labeling``.
    :param prefix: folder/prefix under the root; default ``accepted`` (the normalised labels).
    """

    step = staticmethod(bulkfix_step)
    template_fields: Sequence[str] = ("rules", "root", "prefix", "dry_run")
    arg_kinds = {"rules": "list", "root": "text", "prefix": "text", "dry_run": "flag"}
    ui_color = "#fbe7c6"

    def __init__(self, *, rules: list[str] | str, root: str | None = None, prefix: str = "accepted",
                 dry_run: bool | str = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rules = rules
        self.root = root
        self.prefix = prefix
        self.dry_run = dry_run
