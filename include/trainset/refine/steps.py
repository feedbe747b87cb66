"""The refine stage's steps, one per DAG task (``step(ctx) -> StepResult``), and ``refine_batch``: every step of
one batch in this process (tests, benchmarks), in the DAG's order.

The DAG's ``judge_measurements`` task is the shared GX step over ``judge.JUDGE_SQL`` with
``judge.record_verdicts``; ``refine_batch`` runs that very step through ``judge_batch``.
"""

from __future__ import annotations

from trainset.config import ProjectConfig
from trainset.refine.checks import (
    check_domain_outliers,
    check_near_duplicates,
    ensure_measured,
    write_header_checks,
    write_pixel_checks,
)
from trainset.refine.judge import judge_batch
from trainset.refine.output import write_outputs
from trainset.refine.plan import plan_batches
from trainset.refine.route import route_rejects
from trainset.refine.source import SourceReader
from trainset.refine.summary import BatchSummary, finish_batch, run_counts, run_summary_line
from trainset.step import StepContext, StepInputError, StepResult
from trainset.storage import Storage


def _reader(ctx: StepContext) -> SourceReader:
    return SourceReader([ctx.storages.raw])


def plan_step(ctx: StepContext) -> StepResult:
    """Cut the images still ``raw`` (``limit``, ``classes``) into this run's batches; XCom: their ids."""
    config = ctx.config
    classes = list(ctx.arg("classes", []))
    unknown = sorted(set(classes) - set(config.class_names))
    if unknown:
        raise StepInputError(f"unknown class(es) {unknown}; the project has {config.class_names}")
    batches = plan_batches(ctx.conn, config, ctx.run_id, limit=ctx.arg("limit", 0) or None,
                           classes=classes or None)
    return StepResult(f"{len(batches)} batch(es) of up to {config.refine.batch_size} images to refine",
                      xcom=batches)


def exif_check_step(ctx: StepContext) -> StepResult:
    """Measure the batch (once) and write its ``exif`` and ``spec`` check rows."""
    batch_id = ctx.arg("batch_id")
    measured, seconds = ensure_measured(ctx.conn, ctx.config, batch_id, _reader(ctx))
    counts = write_header_checks(ctx.conn, batch_id)
    return StepResult(f"{batch_id}: measured {measured} image(s) in {seconds:.1f} s; EXIF: {counts['gps']} with "
                      f"GPS (stripped on output), {counts['rotated']} rotated (uprighted), {counts['no_date']} "
                      "without a capture time", xcom={"measured": measured, **counts})


def blur_check_step(ctx: StepContext) -> StepResult:
    """The near-duplicate lookup, the domain-outlier score and the pixel check rows of the batch."""
    batch_id, config = ctx.arg("batch_id"), ctx.config
    radius = config.refine.quality.near_duplicate_radius
    measured, _ = ensure_measured(ctx.conn, config, batch_id, _reader(ctx))
    near = check_near_duplicates(ctx.conn, batch_id, radius)
    check_domain_outliers(ctx.conn, config, batch_id)
    write_pixel_checks(ctx.conn, batch_id)
    return StepResult(f"{batch_id}: sharpness/exposure/information recorded ({measured} newly measured); {near} "
                      f"near duplicate(s) within {radius} bits", xcom={"measured": measured, "near_duplicates": near})


def quarantine_step(ctx: StepContext) -> StepResult:
    """Copy the batch's rejected images to their quarantine locations; XCom: how many were copied."""
    batch_id = ctx.arg("batch_id")
    copied = route_rejects(ctx.conn, batch_id, _reader(ctx), ctx.storages.quarantine)
    return StepResult(f"{batch_id}: {copied} rejected image(s) copied to quarantine", xcom=copied)


def anonymize_step(ctx: StepContext) -> StepResult:
    """Write the batch's passed images to the warehouse and close the batch; XCom: the batch summary."""
    batch_id = ctx.arg("batch_id")
    out = write_outputs(ctx.conn, ctx.config, batch_id, _reader(ctx), ctx.storages.warehouse,
                        ctx.storages.quarantine)
    summary = finish_batch(ctx.conn, batch_id)
    details = []
    if out.written or out.failed:
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(out.seconds.items()))
        details.append(f"{batch_id}: wrote {out.written} image(s) to the warehouse ({steps}); {out.failed} failed "
                       "to render and were quarantined")
    return StepResult(summary.line(), xcom=summary.as_dict(), details=details)


def publish_step(ctx: StepContext) -> StepResult:
    """The run's counts (and the warehouse inventory): XCom and the ``source_images`` event's extra."""
    counts = run_counts(ctx.conn, ctx.run_id)
    return StepResult(run_summary_line(counts), xcom=counts, event_extra=counts,
                      details=[f"  warehouse inventory {key}: {n}" for key, n in counts["warehouse"].items()])


def refine_batch(conn, config: ProjectConfig, batch_id: str, *, run_id: str, reader: SourceReader,
                 warehouse: Storage, quarantine: Storage, docs_dir=None) -> BatchSummary:
    """Every step of one batch in order, in this process, each committed as its task would be."""
    ensure_measured(conn, config, batch_id, reader)
    write_header_checks(conn, batch_id)
    conn.commit()
    check_near_duplicates(conn, batch_id, config.refine.quality.near_duplicate_radius)
    check_domain_outliers(conn, config, batch_id)
    write_pixel_checks(conn, batch_id)
    conn.commit()
    judge_batch(conn, config, batch_id, run_id=run_id, docs_dir=docs_dir)
    conn.commit()
    route_rejects(conn, batch_id, reader, quarantine)
    write_outputs(conn, config, batch_id, reader, warehouse, quarantine)
    summary = finish_batch(conn, batch_id)
    conn.commit()
    return summary
