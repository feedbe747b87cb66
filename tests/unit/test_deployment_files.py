"""Dockerfile / docker-compose.yaml / .env.example stay consistent with each other and with the pins.

Docker cannot run on the CI machines, so this checks what can be checked without an engine: the compose file
parses, every service it depends on exists, the official Airflow services are all there, each connection
variable is valid JSON once compose has interpolated .env.example's values, and the image matches the pins."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_SERVICES = {"postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                     "airflow-worker", "airflow-triggerer", "airflow-init"}
CONNECTIONS = {"AIRFLOW_CONN_TRAINSET_DB": "postgres", "AIRFLOW_CONN_AWS_DEFAULT": "aws",
               "AIRFLOW_CONN_SLACK_ALERTS": "slackwebhook", "AIRFLOW_CONN_SLACK_API": "slack",
               "AIRFLOW_CONN_SMTP_DEFAULT": "smtp"}
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}."""
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3)
        value = env.get(name)
        if op in (":-", "-"):
            return value if value not in (None, "") or (op == "-" and value is not None) else arg
        if op in (":?", "?"):
            if value in (None, "") if op == ":?" else value is None:
                raise ValueError(f"required variable {name} missing: {arg}")
            return value
        return value or ""
    return _VAR.sub(sub, text)


def dotenv(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip().strip('"')
    return env


@pytest.fixture(scope="module")
def compose() -> dict:
    env = dotenv(ROOT / ".env.example")
    return yaml.safe_load(interpolate((ROOT / "docker-compose.yaml").read_text(encoding="utf-8"), env))


def test_compose_has_the_official_services_plus_ours(compose):
    services = compose["services"]
    assert OFFICIAL_SERVICES | {"records-db", "minio", "minio-init"} <= set(services)
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert spec["condition"] in ("service_started", "service_healthy", "service_completed_successfully")
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} needs a healthcheck for {name}"
    worker = services["airflow-worker"]
    assert worker["command"] == "celery worker" and worker["environment"]["DUMB_INIT_SETSID"] == "0"
    assert "build" in worker and "container_name" not in worker, "workers must be scalable (--scale)"
    env = worker["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert "python -m trainset db upgrade" in services["airflow-init"]["command"][1]


def test_connections_are_valid_json_with_secrets_from_env(compose):
    env_example = dotenv(ROOT / ".env.example")
    raw = (ROOT / "docker-compose.yaml").read_text(encoding="utf-8")
    for service in ("airflow-worker", "airflow-scheduler", "airflow-init"):
        env = compose["services"][service]["environment"]
        for var, conn_type in CONNECTIONS.items():
            conn = json.loads(env[var])
            assert conn["conn_type"] == conn_type, var
    aws = json.loads(compose["services"]["airflow-worker"]["environment"]["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["extra"]["endpoint_url"] == "http://minio:9000"
    assert aws["password"] == env_example["TRAINSET_S3_SECRET_KEY"]
    db = json.loads(compose["services"]["airflow-worker"]["environment"]["AIRFLOW_CONN_TRAINSET_DB"])
    assert db["host"] == "records-db" and db["password"] == env_example["TRAINSET_DB_PASSWORD"]
    # No secret value is written into the compose file itself.
    for key, value in env_example.items():
        if any(word in key for word in ("PASSWORD", "SECRET", "TOKEN")):
            assert value not in raw, key


def test_required_secrets_fail_fast_without_env():
    with pytest.raises(ValueError, match="TRAINSET_DB_PASSWORD"):
        interpolate((ROOT / "docker-compose.yaml").read_text(encoding="utf-8"), {})


def test_dockerfile_matches_the_pins():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\S+)$", dockerfile, re.M)
    assert base, "Dockerfile must build on the official apache/airflow image"
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert pins["apache-airflow"] == base.group(1)
    assert base.group(2) == "3.11"
    docker_pins = [line for line in (ROOT / "requirements-docker.txt").read_text().splitlines()
                   if line and not line.startswith("#")]
    assert docker_pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][^ ]*", line) for line in docker_pins)
    assert not {line.split("==")[0] for line in docker_pins} & set(pins), "pinned twice"
    for needed in ("-r /requirements.txt -r /requirements-docker.txt", "--no-deps -r /requirements-nodeps.txt",
                   "pip install --no-cache-dir --no-deps -e /opt/airflow"):
        assert needed in dockerfile, needed
    for folder in ("dags", "plugins", "include"):
        assert f"COPY --chown=airflow:root {folder} /opt/airflow/{folder}" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".local", ".env", ".git"} <= set(ignored)
