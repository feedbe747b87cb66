"""DropZoneCollectOperator: register the drop zone's new files (the step ``trainset.collect.collect_step``)."""

from __future__ import annotations

from collections.abc import Sequence

from trainset.collect import collect_step

from trainset_airflow.assets import raw_images
from trainset_airflow.operators.base import TrainsetStepOperator


class DropZoneCollectOperator(TrainsetStepOperator):
    """Scan the drop zone (a folder or an S3 prefix), register new files, quarantine unusable ones, move the
    accepted ones to the raw area, and emit ``raw_images`` with the counts and batch id in the event's extra.

    :param source_prefix: sub-folder/prefix of the drop zone to scan, or a full ``file://`` / ``s3://`` URI to
        scan instead of the configured drop zone. Empty: the whole drop zone.
    :param dry_run: scan, check and report only; nothing is written or moved and no ``raw_images`` event is
        emitted (refine is not started).
    """

    step = staticmethod(collect_step)
    outlet = raw_images
    template_fields: Sequence[str] = ("source_prefix", "dry_run")
    arg_kinds = {"source_prefix": "text", "dry_run": "flag"}
    ui_color = "#e8f4fa"

    def __init__(self, *, source_prefix: str = "", dry_run: bool | str = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.source_prefix = source_prefix
        self.dry_run = dry_run
