"""The refine stage (정제): measure, judge (GX), de-identify, rename, resize, store in the warehouse.

Modules: ``exif`` (header metadata), ``measure`` (the one-decode measurement gate), ``dedup`` (perceptual-hash
index), ``render`` (the output image), ``batch`` (the stage over the records DB), ``local`` (the CLI path).
"""


def demo_summary(conn, *, run_id: str | None = None) -> list[str]:
    """PM-facing lines for ``make demo`` (see ``batch.demo_summary``)."""
    from trainset.refine.batch import demo_summary as summary

    return summary(conn, run_id=run_id)
