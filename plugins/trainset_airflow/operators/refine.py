"""Refine (정제) operators: each runs one step of ``trainset.refine.steps``.

One batch (a mapped task instance) goes through: ``ExifCheckOperator`` (header: EXIF and image spec) →
``BlurCheckOperator`` (pixels: sharpness, exposure, information, near duplicates) → the GX suite
(``GxValidationOperator`` over ``trainset.refine.judge.JUDGE_SQL``, ``parameters=judge.suite_parameters``,
``record_with=judge.record_verdicts``) →
``QuarantineRejectsOperator`` → ``AnonymizeOperator`` (de-identify, upright, clean EXIF, rename, resize, write to
the warehouse).  The two check operators share one measurement pass per batch (cached in ``refine_measurements``
per image and content hash): whichever runs first decodes, and each writes its own ``check_results`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from trainset.refine import steps

from trainset_airflow.assets import source_images
from trainset_airflow.operators.base import TrainsetStepOperator


class PlanRefineBatchesOperator(TrainsetStepOperator):
    """Cut the images still ``raw`` into batches of ``refine.batch_size`` and return their ids (for mapping).

    :param limit: at most this many images (0: all).
    :param classes: only these classes (empty: all).
    """

    step = staticmethod(steps.plan_step)
    template_fields: Sequence[str] = ("limit", "classes")
    arg_kinds = {"limit": "int", "classes": "list"}
    ui_color = "#f0f7e6"

    def __init__(self, *, limit: int | str = 0, classes: list[str] | str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.limit = limit
        self.classes = classes


class _RefineBatchOperator(TrainsetStepOperator):
    """An operator that works on one mapped refine batch, named by its (templated) batch id.

    :param batch_id: the batch (one of ``plan_batches``' ids).
    """

    template_fields: Sequence[str] = ("batch_id",)
    arg_kinds = {"batch_id": "text"}

    def __init__(self, *, batch_id: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.batch_id = batch_id


class ExifCheckOperator(_RefineBatchOperator):
    """Measure the batch (once; shared with ``BlurCheckOperator``) and write the ``exif`` and ``spec`` check rows:
    capture time, camera make/model, GPS presence, orientation, format and upright size."""

    step = staticmethod(steps.exif_check_step)
    ui_color = "#e6f0fa"


class BlurCheckOperator(_RefineBatchOperator):
    """Write the ``sharpness``, ``exposure``, ``information`` and ``near_duplicate`` check rows; the perceptual
    hash is looked up against every earlier image (the whole warehouse) through the multi-index hash table."""

    step = staticmethod(steps.blur_check_step)
    ui_color = "#e6f0fa"


class QuarantineRejectsOperator(_RefineBatchOperator):
    """Copy the images the suite rejected to ``<quarantine>/refine/<reason>/`` (where the DB says)."""

    step = staticmethod(steps.quarantine_step)
    ui_color = "#fae6e6"


class AnonymizeOperator(_RefineBatchOperator):
    """De-identify the batch's passed images (faces and plates masked, every detection recorded), upright them,
    strip personal EXIF, rename by the naming rule, resize, re-encode and write them to the warehouse; then log the
    batch's summary line."""

    step = staticmethod(steps.anonymize_step)
    ui_color = "#eee6fa"


class PublishSourceImagesOperator(TrainsetStepOperator):
    """Emit ``source_images`` with this run's counts (and the warehouse inventory) in the event's extra."""

    step = staticmethod(steps.publish_step)
    outlet = source_images
    ui_color = "#f0f7e6"
