"""Refine (정제) operators: thin over ``trainset.refine.batch``.

One batch (a mapped task instance) goes through: ``ExifCheckOperator`` (header: EXIF and image spec) →
``BlurCheckOperator`` (pixels: sharpness, exposure, information, near duplicates) → the GX suite
(``GxValidationOperator`` with ``record_with=trainset.refine.batch.record_verdicts``) →
``QuarantineRejectsOperator`` → ``AnonymizeOperator`` (de-identify, upright, clean EXIF, rename, resize, write to
the warehouse).  The two check operators share one measurement pass per batch (cached in ``refine_measurements``
per image and content hash): whichever runs first decodes, and each writes its own ``check_results`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk import BaseOperator, Context
from trainset.config import ProjectConfig, get_config
from trainset.refine import batch as refine

from trainset_airflow.assets import source_images
from trainset_airflow.hooks import RecordsDbHook, storage_for


def _hook(config: ProjectConfig) -> RecordsDbHook:
    return RecordsDbHook(postgres_conn_id=config.connections.records_db)


def _reader(config: ProjectConfig) -> refine.SourceReader:
    return refine.SourceReader([storage_for(config.storage.raw, config.connections.aws)])


def gx_parameters(config: ProjectConfig | None = None, **_template_context) -> dict:
    """The suite's thresholds from the project file at run time (Airflow calls templated callables with the
    context; the GX operator calls it with the config)."""
    return refine.suite_parameters(config if isinstance(config, ProjectConfig) else get_config())


class PlanRefineBatchesOperator(BaseOperator):
    """Cut the images still ``raw`` into batches of ``refine.batch_size`` and return their ids (for mapping).

    :param limit: at most this many images (0: all).
    :param classes: only these classes (empty: all).
    """

    template_fields: Sequence[str] = ("limit", "classes")
    ui_color = "#f0f7e6"

    def __init__(self, *, limit: int | str = 0, classes: list[str] | str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.limit = limit
        self.classes = classes

    def execute(self, context: Context) -> list[str]:
        config = get_config()
        classes = self.classes
        if isinstance(classes, str):
            classes = [c.strip() for c in classes.split(",") if c.strip()]
        unknown = sorted(set(classes or []) - set(config.class_names))
        if unknown:
            raise ValueError(f"unknown class(es) {unknown}; the project has {config.class_names}")
        with _hook(config).connection() as conn:
            batches = refine.plan_batches(conn, config, context["run_id"], limit=int(self.limit or 0) or None,
                                          classes=classes or None)
        self.log.info("%d batch(es) of up to %d images to refine", len(batches), config.refine.batch_size)
        return batches


class _RefineBatchOperator(BaseOperator):
    """An operator that works on one mapped refine batch, named by its (templated) batch id."""

    template_fields: Sequence[str] = ("batch_id",)

    def __init__(self, *, batch_id: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.batch_id = batch_id


class ExifCheckOperator(_RefineBatchOperator):
    """Measure the batch (once; shared with ``BlurCheckOperator``) and write the ``exif`` and ``spec`` check rows:
    capture time, camera make/model, GPS presence, orientation, format and upright size."""

    ui_color = "#e6f0fa"

    def execute(self, context: Context) -> dict:
        config = get_config()
        with _hook(config).connection() as conn:
            measured, seconds = refine.ensure_measured(conn, config, self.batch_id, _reader(config))
            counts = refine.write_header_checks(conn, self.batch_id)
        self.log.info("%s: measured %d image(s) in %.1f s; EXIF: %d with GPS (stripped on output), %d rotated "
                      "(uprighted), %d without a capture time", self.batch_id, measured, seconds, counts["gps"],
                      counts["rotated"], counts["no_date"])
        return {"measured": measured, **counts}


class BlurCheckOperator(_RefineBatchOperator):
    """Write the ``sharpness``, ``exposure``, ``information`` and ``near_duplicate`` check rows; the perceptual
    hash is looked up against every earlier image (the whole warehouse) through the multi-index hash table."""

    ui_color = "#e6f0fa"

    def execute(self, context: Context) -> dict:
        config = get_config()
        with _hook(config).connection() as conn:
            measured, _ = refine.ensure_measured(conn, config, self.batch_id, _reader(config))
            near = refine.check_near_duplicates(conn, self.batch_id, config.refine.quality.near_duplicate_radius)
            refine.check_domain_outliers(conn, config, self.batch_id)
            refine.write_pixel_checks(conn, self.batch_id)
        self.log.info("%s: sharpness/exposure/information recorded (%d newly measured); %d near duplicate(s) "
                      "within %d bits", self.batch_id, measured, near, config.refine.quality.near_duplicate_radius)
        return {"measured": measured, "near_duplicates": near}


class QuarantineRejectsOperator(_RefineBatchOperator):
    """Copy the images the suite rejected to ``<quarantine>/refine/<reason>/`` (where the DB says)."""

    ui_color = "#fae6e6"

    def execute(self, context: Context) -> int:
        config = get_config()
        with _hook(config).connection() as conn:
            copied = refine.route_rejects(conn, self.batch_id, _reader(config),
                                          storage_for(config.storage.quarantine, config.connections.aws))
        self.log.info("%s: %d rejected image(s) copied to quarantine", self.batch_id, copied)
        return copied


class AnonymizeOperator(_RefineBatchOperator):
    """De-identify the batch's passed images (faces and plates masked, every detection recorded), upright them,
    strip personal EXIF, rename by the naming rule, resize, re-encode and write them to the warehouse; then log the
    batch's summary line."""

    ui_color = "#eee6fa"

    def execute(self, context: Context) -> dict:
        config = get_config()
        aws = config.connections.aws
        with _hook(config).connection() as conn:
            out = refine.write_outputs(conn, config, self.batch_id, _reader(config),
                                       storage_for(config.storage.warehouse, aws),
                                       storage_for(config.storage.quarantine, aws))
            summary = refine.finish_batch(conn, self.batch_id)
        if out.written or out.failed:
            steps = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(out.seconds.items()))
            self.log.info("%s: wrote %d image(s) to the warehouse (%s); %d failed to render and were quarantined",
                          self.batch_id, out.written, steps, out.failed)
        self.log.info(summary.line())
        return summary.as_dict()


class PublishSourceImagesOperator(BaseOperator):
    """Emit ``source_images`` with this run's counts (and the warehouse inventory) in the event's extra."""

    ui_color = "#f0f7e6"

    def __init__(self, **kwargs) -> None:
        super().__init__(outlets=[source_images], **kwargs)

    def execute(self, context: Context) -> dict:
        config = get_config()
        with _hook(config).connection() as conn:
            counts = refine.run_counts(conn, context["run_id"])
        self.log.info(refine.run_summary_line(counts))
        for key, n in counts["warehouse"].items():
            self.log.info("  warehouse inventory %s: %d", key, n)
        context["outlet_events"][source_images].extra = counts
        return counts
