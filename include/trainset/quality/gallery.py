"""The day's quality gallery (품질관리): GT vs labeler and replica vs replica overlays with the label-error hints
beside each image, published to ``<reports>/quality/gallery/<YYYY-MM-DD>/index.html``."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from trainset.config import ProjectConfig
from trainset.inspection.comparison import build_quality_gallery, quality_comparisons
from trainset.inspection.transfer import fetch_uri
from trainset.quality.score import hint_lines
from trainset.step import StepContext, StepResult
from trainset.storage import Storage, publish_site


def gallery_prefix(day: dt.date) -> str:
    return f"quality/gallery/{day.isoformat()}"


def build_day_gallery(conn, config: ProjectConfig, day: dt.date, reports: Storage, *, s3_client=None) -> dict:
    """Render the day's comparisons (from ``quality_item_scores`` and ``quality_consensus_results``, i.e. after
    ``score_day``) and publish the page to ``reports``; a day without any still gets a page saying so, so the
    link in the log is never dead.  ``s3_client`` reads images whose location is ``s3://``.

    Returns ``{"work_date", "page", "items", "gt", "consensus", "items_with_hints"}``."""
    hints = hint_lines(conn, day)
    work = Path(tempfile.mkdtemp(prefix="trainset-quality-gallery-"))
    try:
        fetched: dict[str, Path] = {}

        def fetch(uri) -> Path:
            # One download per image, however many comparisons show it (a GT item scored for several labelers).
            if not uri:
                return Path("")
            if uri not in fetched:
                fetched[uri] = fetch_uri(str(uri), s3_client, work)
            return fetched[uri]

        comparisons = quality_comparisons(conn, day, hints=hints, fetch=fetch)
        title = (f"품질관리 — {day.isoformat()}: GT vs labeler, replica vs replica ({len(comparisons)} items)"
                 if comparisons else
                 f"품질관리 — {day.isoformat()}: nothing to compare (no GT or consensus items scored this day)")
        page = build_quality_gallery(comparisons, work / "site", config=config, title=title)
        uri = publish_site(reports, gallery_prefix(day), page.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    shown = {c.item_key for c in comparisons}
    return {"work_date": day.isoformat(), "page": uri, "items": len(comparisons),
            "gt": sum(c.kind == "gt" for c in comparisons),
            "consensus": sum(c.kind == "consensus" for c in comparisons),
            "items_with_hints": len(shown & set(hints))}


def gallery_step(ctx: StepContext) -> StepResult:
    """``labeling_refinement_validation.quality_gallery``: the day's overlays published to the reports root
    (images on S3 are read with the runner's S3 client)."""
    day = ctx.work_date
    client = ctx.storages.s3_client if ctx.storages.any_on_s3("warehouse") else None
    result = build_day_gallery(ctx.conn, ctx.config, day, ctx.storages.reports, s3_client=client)
    return StepResult(f"quality gallery {day}: {result['items']} item(s) ({result['gt']} GT, "
                      f"{result['consensus']} consensus): {result['page']}", xcom=result)
