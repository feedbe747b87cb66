"""ServerTransferOperator: send first-inspection passes to the inspection server's bucket (the step
``trainset.inspection.transfer.transfer_step``; the boto3 client comes from the Amazon provider's ``S3Hook``)."""

from __future__ import annotations

from collections.abc import Sequence

from trainset.inspection.transfer import transfer_step

from trainset_airflow.operators.base import TrainsetStepOperator


class ServerTransferOperator(TrainsetStepOperator):
    """Upload every passed item (image + label, in the configured layout) to the inspection server, verify each
    object's size and SHA-256 after upload, retry transient errors with backoff, and write the run's manifest
    (CSV + JSON) into the bucket and the DB.  A re-run or a retry after a crash sends nothing twice.

    :param server_uri: ``s3://bucket/prefix``; default ``storage.inspection_server``.
    :param item_keys: only these items (a list, or a comma-separated string); default all passed items.
    :param batch_id: default ``inspection__<run_id>``.
    """

    step = staticmethod(transfer_step)
    template_fields: Sequence[str] = ("server_uri", "item_keys", "batch_id")
    arg_kinds = {"server_uri": "text", "item_keys": "list", "batch_id": "text"}
    ui_color = "#fdf0d5"

    def __init__(self, *, server_uri: str | None = None, item_keys: list[str] | str | None = None,
                 batch_id: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.server_uri = server_uri
        self.item_keys = item_keys
        self.batch_id = batch_id
