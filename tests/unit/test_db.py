"""Records DB helpers: the DSN read from Airflow's connection variable, and idempotent migrations."""

from __future__ import annotations

import json

import psycopg2
from trainset import db


def test_dsn_from_json_connection_with_special_characters(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TRAINSET_DB", json.dumps(
        {"conn_type": "postgres", "host": "db.internal", "port": 5433, "login": "trainset",
         "password": "p@ss:w/rd", "schema": "trainset"}))
    dsn = db.dsn_from_airflow_conn_env()
    assert dsn == "postgresql://trainset:p%40ss%3Aw%2Frd@db.internal:5433/trainset"
    params = psycopg2.extensions.parse_dsn(dsn)
    assert params["password"] == "p@ss:w/rd" and params["host"] == "db.internal"


def test_dsn_from_json_connection_on_a_socket_folder(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TRAINSET_DB", json.dumps(
        {"conn_type": "postgres", "host": "/run/pg", "login": "postgres", "schema": "trainset"}))
    assert db.dsn_from_airflow_conn_env() == "postgresql://postgres@/trainset?host=/run/pg"


def test_dsn_from_uri_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TRAINSET_DB", "postgres://u:secret@host:5432/records")
    assert db.dsn_from_airflow_conn_env() == "postgresql://u:secret@host:5432/records"


def test_upgrade_is_idempotent(records):
    assert db.upgrade(records) == []  # the fixture already migrated: nothing left to apply
    versions = db.current_versions(records)
    assert versions == [p.stem for p in db.migration_files()]
