"""Records DB access: connecting, versioned migrations and batched writes over a DB-API (psycopg2) connection.

The Airflow layer passes ``RecordsDbHook(...).get_conn()`` (always psycopg2); the CLI builds a connection from a
DSN.  Nothing here knows about Airflow.

Who commits: the runner of a step (``RecordsDbHook.connection()``, ``trainset.step.run_step``, a CLI command)
commits once when it returns.  ``upgrade`` is the exception: every migration is its own transaction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import psycopg2
import psycopg2.extras

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "sql" / "migrations"
_MIGRATION_LOCK = 727_001  # pg_advisory_lock key: concurrent upgrades wait instead of racing


def dsn_from_airflow_conn_env(var: str = "AIRFLOW_CONN_TRAINSET_DB") -> str | None:
    """Read the records DB connection the way Airflow would (JSON or URI form), without importing Airflow."""
    raw = os.environ.get(var)
    if not raw:
        return None
    if raw.lstrip().startswith("{"):
        c = json.loads(raw)
        host, login, password = c.get("host") or "", c.get("login") or "", c.get("password") or ""
        port, schema = c.get("port"), c.get("schema") or ""
    else:
        u = urlparse(raw)
        host, login, password = unquote(u.hostname or ""), unquote(u.username or ""), unquote(u.password or "")
        port, schema = u.port, u.path.lstrip("/")
        if u.netloc and "%2f" in u.netloc.lower():  # socket directory encoded in the host part
            host = unquote(u.netloc.rsplit("@", 1)[-1].split(":")[0])
    auth = quote(login, safe="") + (":" + quote(password, safe="") if password else "") + "@" if login else ""
    netloc = "" if host.startswith("/") else host + (f":{port}" if port else "")
    dsn = f"postgresql://{auth}{netloc}/{schema}"
    if host.startswith("/"):
        dsn += f"?host={host}" + (f"&port={port}" if port else "")
    return dsn


def resolve_dsn(dsn: str | None = None) -> str:
    dsn = dsn or os.environ.get("TRAINSET_DB_DSN") or dsn_from_airflow_conn_env()
    if not dsn:
        raise RuntimeError("no records DB: pass --dsn, or set TRAINSET_DB_DSN or AIRFLOW_CONN_TRAINSET_DB")
    return dsn


def connect(dsn: str | None = None):
    return psycopg2.connect(resolve_dsn(dsn))


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(directory.glob("*.sql"))


def upgrade(conn, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every migration not applied yet, each in its own transaction; returns the versions applied."""
    applied_now: list[str] = []
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.commit()  # the bookkeeping table exists even if the first migration fails
            cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
            for path in migration_files(directory):
                version = path.stem
                if version in done:
                    continue
                try:
                    cur.execute(path.read_text(encoding="utf-8"))
                    cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                    conn.commit()  # each migration is its own transaction: applied ones stay if a later one fails
                except Exception:
                    conn.rollback()
                    raise
                applied_now.append(version)
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
            conn.commit()  # end the unlock's transaction: the caller may go on with a clean connection
    return applied_now


def current_versions(conn) -> list[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return []
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        return [r[0] for r in cur.fetchall()]


def execute_batch(cur, sql: str, rows: Sequence[Sequence] | Iterable[Sequence], *, page_size: int = 500,
                  fetch: bool = False) -> list[tuple]:
    """``INSERT ... VALUES %s`` for many rows in few round trips (psycopg2's execute_values)."""
    rows = list(rows)
    if not rows:
        return []
    return psycopg2.extras.execute_values(cur, sql, rows, page_size=page_size, fetch=fetch) or []


def fetch_dicts(cur, sql: str, params: Sequence | dict | None = None) -> list[dict]:
    cur.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def ensure_database(admin_dsn: str, name: str) -> bool:
    """Create database ``name`` on the server of ``admin_dsn`` if it does not exist; True if created."""
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return False
            cur.execute(f'CREATE DATABASE "{name}"')
            return True
    finally:
        conn.close()


def drop_database(admin_dsn: str, name: str) -> None:
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()
