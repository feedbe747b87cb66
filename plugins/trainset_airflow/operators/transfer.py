"""ServerTransferOperator: send first-inspection passes to the inspection server's bucket (thin over
``trainset.inspection.transfer``; the boto3 client comes from the Amazon provider's ``S3Hook``)."""

from __future__ import annotations

from collections.abc import Sequence

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import BaseOperator, Context
from trainset.config import get_config
from trainset.inspection.transfer import InspectionServer, TransferError, transfer_passed

from trainset_airflow.hooks import RecordsDbHook


class ServerTransferOperator(BaseOperator):
    """Upload every passed item (image + label, in the configured layout) to the inspection server, verify each
    object's size and SHA-256 after upload, retry transient errors with backoff, and write the run's manifest
    (CSV + JSON) into the bucket and the DB.  A re-run or a retry after a crash sends nothing twice.

    :param server_uri: ``s3://bucket/prefix``; default ``storage.inspection_server``.
    :param aws_conn_id: default ``connections.aws``.
    :param item_keys: only these items (a list, or a comma-separated string); default all passed items.
    :param batch_id: default ``inspection__<run_id>``.
    """

    template_fields: Sequence[str] = ("server_uri", "item_keys", "batch_id")
    ui_color = "#fdf0d5"

    def __init__(self, *, server_uri: str | None = None, aws_conn_id: str | None = None,
                 item_keys: list[str] | str | None = None, batch_id: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.server_uri = server_uri
        self.aws_conn_id = aws_conn_id
        self.item_keys = item_keys
        self.batch_id = batch_id

    def _keys(self) -> list[str] | None:
        keys = self.item_keys
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",") if k.strip()]
        return list(keys) or None if keys else None

    def execute(self, context: Context) -> dict:
        config = get_config()
        client = S3Hook(aws_conn_id=self.aws_conn_id or config.connections.aws).get_conn()
        server = InspectionServer(self.server_uri or config.storage.inspection_server, client, config.inspection)
        batch_id = self.batch_id or f"inspection__{context['run_id']}"
        self.log.info("sending first-inspection passes to %s (batch %s)", server.uri, batch_id)
        with RecordsDbHook(postgres_conn_id=config.connections.records_db).connection() as conn:
            result = transfer_passed(conn, config, server, batch_id=batch_id, run_id=context["run_id"],
                                     item_keys=self._keys(), source_client=client)
        self.log.info(result.summary())
        self.log.info("manifest: %s and %s", result.manifest_csv_uri, result.manifest_json_uri)
        if result.failed:
            for key, err in result.failed:
                self.log.error("not sent: %s: %s", key, err)
            # Everything else is recorded; a retry (or tomorrow's run) sends only what is missing.
            raise TransferError(f"{len(result.failed)} item(s) could not be sent and verified")
        return {"batch_id": batch_id, **result.counts, "manifest_csv": result.manifest_csv_uri,
                "manifest_json": result.manifest_json_uri}
