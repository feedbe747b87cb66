"""Labeling quality control operators: each runs one step of ``trainset.quality`` on ``TrainsetStepOperator``."""

from __future__ import annotations

from collections.abc import Sequence

from trainset.quality.assign import quality_assignment_step
from trainset.quality.gallery import gallery_step
from trainset.quality.gating import gating_notify_step
from trainset.quality.score import score_step

from trainset_airflow.operators.base import TrainsetStepOperator


class QualityAssignmentOperator(TrainsetStepOperator):
    """Add the day's hidden GT items and consensus replicas to the distribution, then rewrite the lists.

    :param dry_run: add nothing (the distribution's dry run writes nothing either).
    """

    step = staticmethod(quality_assignment_step)
    template_fields: Sequence[str] = ("work_date", "dry_run")
    arg_kinds = {"dry_run": "flag"}
    ui_color = "#e8f4fa"

    def __init__(self, *, dry_run: bool | str = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run


class QualityScoreOperator(TrainsetStepOperator):
    """Score GT uploads (then set them aside), merge consensus replicas, per-labeler daily and rolling scores.
    The gating thresholds are judged next by the GX suite ``labeler_quality``."""

    step = staticmethod(score_step)
    ui_color = "#e8f4fa"


class QualityGalleryOperator(TrainsetStepOperator):
    """Publish the day's GT vs labeler and replica vs replica overlays (hints beside each image) to
    ``<reports>/quality/gallery/<day>/index.html``; a day with nothing to compare gets a page saying so."""

    step = staticmethod(gallery_step)
    ui_color = "#e7e3f7"


class QualityNotifyOperator(TrainsetStepOperator):
    """Send the pending gating messages to the PM (Slack bot), each recorded as sent before the next.

    :param slack_conn_id: Slack API connection (default ``config.connections.slack_api``).
    :param notify: send (False: the messages stay pending in ``notifications``).
    """

    step = staticmethod(gating_notify_step)
    template_fields: Sequence[str] = ("work_date", "notify")
    arg_kinds = {"notify": "flag"}
    ui_color = "#e8f4fa"

    def __init__(self, *, notify: bool | str = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.notify = notify
