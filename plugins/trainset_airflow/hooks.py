"""Connections → domain objects: the records DB connection and storage roots (file:// or s3://)."""

from __future__ import annotations

from contextlib import contextmanager

import psycopg2
from airflow.sdk import BaseHook
from trainset.storage import Storage, open_storage


class RecordsDbHook(BaseHook):
    """The trainset records DB: a PostgreSQL connection (default ``trainset_db``) handed to the domain library.

    It always gives a psycopg2 connection (the domain library batches with ``execute_values``), whichever driver
    the Postgres provider prefers; the fields are those of a ``postgres`` connection (host may be a socket folder).
    """

    conn_name_attr = "postgres_conn_id"
    default_conn_name = "trainset_db"
    conn_type = "postgres"
    hook_name = "trainset records DB"

    def __init__(self, postgres_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.postgres_conn_id = postgres_conn_id

    def get_conn(self):
        """A new psycopg2 connection (the caller commits and closes)."""
        conn = self.get_connection(self.postgres_conn_id)
        extra = conn.extra_dejson
        params = {
            "host": conn.host or None, "port": conn.port or None, "user": conn.login or None,
            "password": conn.password or None, "dbname": conn.schema or extra.get("dbname") or None,
            "sslmode": extra.get("sslmode"), "connect_timeout": extra.get("connect_timeout", 15),
            "application_name": extra.get("application_name", "trainset"),
        }
        return psycopg2.connect(**{k: v for k, v in params.items() if v is not None})

    @contextmanager
    def connection(self):
        """A psycopg2 connection that commits on success, rolls back on error and always closes."""
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
