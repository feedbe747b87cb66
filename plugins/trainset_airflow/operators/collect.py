"""DropZoneCollectOperator: register the drop zone's new files (thin over ``trainset.collect``)."""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk import BaseOperator, Context
from trainset.collect import run_collect
from trainset.config import get_config

from trainset_airflow.assets import raw_images
from trainset_airflow.hooks import RecordsDbHook, storage_for


class DropZoneCollectOperator(BaseOperator):
    """Scan the drop zone (a folder or an S3 prefix), register new files, quarantine unusable ones, move the
    accepted ones to the raw area, and emit ``raw_images`` with the counts and batch id in the event's extra.

    :param source_prefix: sub-folder/prefix of the drop zone to scan, or a full ``file://`` / ``s3://`` URI to
        scan instead of the configured drop zone. Empty: the whole drop zone.
    :param dry_run: scan, check and report only; nothing is written or moved and no ``raw_images`` event is
        emitted (refine is not started).
    """

    template_fields: Sequence[str] = ("source_prefix", "dry_run")
    ui_color = "#e8f4fa"

    def __init__(self, *, source_prefix: str = "", dry_run: bool | str = False, **kwargs) -> None:
        super().__init__(outlets=[raw_images], **kwargs)
        self.source_prefix = source_prefix
        self.dry_run = dry_run

    def execute(self, context: Context) -> dict:
        config = get_config()
        aws = config.connections.aws
        root, prefix = config.storage.drop_zone, (self.source_prefix or "").strip()
        if "://" in prefix:
            root, prefix = prefix.rstrip("/"), ""
        dry_run = self.dry_run if isinstance(self.dry_run, bool) else str(self.dry_run).lower() == "true"
        self.log.info("scanning %s%s", root, f" (prefix {prefix})" if prefix else "")
        with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
            summary = run_collect(
                conn=conn, config=config, drop_zone=storage_for(root, aws), raw=storage_for(config.storage.raw, aws),
                quarantine=storage_for(config.storage.quarantine, aws), run_id=context["run_id"], prefix=prefix,
                dry_run=dry_run,
            )
        self.log.info(summary.line())
        counts = summary.as_dict()
        if dry_run:
            # Airflow emits an event for every declared outlet of a successful task; a dry run must not start
            # refine, so this run's task (a per-run copy: the DAG's declared outlets are unchanged) has none.
            self.outlets = []
        else:
            context["outlet_events"][raw_images].extra = counts
        return counts
