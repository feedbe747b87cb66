"""System tests: the real Airflow components as processes on 127.0.0.1 (trainset_dev.airflow_stack), a metadata DB
and records DBs of the test's own on the embedded PostgreSQL, the local S3 / Slack / SMTP peers as connections;
driven through the REST API only."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def make_records_db(pg_admin_dsn):
    """Create (and migrate) records DBs on demand, each dropped at the end; returns (name, dsn)."""
    from trainset import db

    made = []

    def make(prefix: str = "trainset_sys", template: str | None = None) -> tuple[str, str]:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        if template is None:
            db.ensure_database(pg_admin_dsn, name)
        else:
            conn = db.connect(pg_admin_dsn)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            conn.close()
        dsn = pg_admin_dsn.replace("/postgres?", f"/{name}?")
        if template is None:
            conn = db.connect(dsn)
            db.upgrade(conn)
            conn.close()
        made.append(name)
        return name, dsn

    yield make
    for name in made:
        db.drop_database(pg_admin_dsn, name)


def connection_fields(dsn: str) -> dict:
    """The REST API's connection body for a records DB dsn (socket folder as host)."""
    u = urlparse(dsn)
    return {"conn_type": "postgres", "host": parse_qs(u.query)["host"][0], "login": "postgres",
            "schema": u.path.lstrip("/")}


def connection_env(dsn: str) -> str:
    return json.dumps(connection_fields(dsn))


def write_project_file(path: Path, **overrides) -> Path:
    """include/project.yaml with ``overrides`` merged in (dotted keys: ``refine.workers=2``)."""
    data = yaml.safe_load((ROOT / "include" / "project.yaml").read_text(encoding="utf-8"))
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
