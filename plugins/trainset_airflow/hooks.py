"""Connections → domain objects: the records DB connection and storage roots (file:// or s3://)."""

from __future__ import annotations

from contextlib import contextmanager

from airflow.providers.postgres.hooks.postgres import PostgresHook
from trainset.storage import Storage, open_storage


class RecordsDbHook(PostgresHook):
    """The trainset records DB (a PostgreSQL connection, default ``trainset_db``)."""

    conn_name_attr = "postgres_conn_id"
    default_conn_name = "trainset_db"
    hook_name = "trainset records DB"

    @contextmanager
    def connection(self):
        """A psycopg2 connection that commits on success and always closes."""
        conn = self.get_conn()
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()


def s3_client(aws_conn_id: str):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    # S3Hook reads endpoint_url from the connection's extra, so MinIO and moto work unchanged.
    return S3Hook(aws_conn_id=aws_conn_id).get_conn()


def storage_for(uri: str, aws_conn_id: str = "aws_default") -> Storage:
    return open_storage(uri, s3_client(aws_conn_id) if uri.startswith("s3://") else None)
