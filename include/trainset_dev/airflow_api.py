"""A client of Airflow 3's public REST API (``POST /auth/token`` then ``/api/v2/...``), as a script or the UI uses
it: trigger runs and backfills, wait for them, read task logs, set connections."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from trainset_dev.airflow_stack import AirflowStack


class ApiClient:
    """The public REST API with a JWT from ``POST /auth/token`` (what a script or the UI does)."""

    TERMINAL = {"success", "failed"}

    def __init__(self, url: str, username: str, password: str):
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False
        r = self.session.post(f"{url}/auth/token", json={"username": username, "password": password}, timeout=30)
        r.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def request(self, method: str, path: str, **kw) -> dict:
        r = self.session.request(method, f"{self.url}/api/v2{path}", timeout=60, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:1000]}")
        return r.json() if r.content else {}

    def get(self, path: str, **params) -> dict:
        return self.request("GET", path, params=params)

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            have = {d["dag_id"] for d in self.get("/dags", limit=100)["dags"]}
            if set(dag_ids) <= have:
                errors = self.get("/importErrors")
                if errors.get("total_entries"):
                    raise RuntimeError(f"DAG import errors: {errors}")
                return
            time.sleep(1)
        raise TimeoutError(f"DAGs not parsed after {timeout:.0f} s: missing {set(dag_ids) - have}")

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict | None = None, run_id: str | None = None) -> str:
        body = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def runs(self, dag_id: str, **params) -> list[dict]:
        return self.get(f"/dags/{dag_id}/dagRuns", limit=100, order_by="run_after", **params)["dag_runs"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=1000)["task_instances"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300, stack: AirflowStack | None = None) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if run["state"] in self.TERMINAL:
                return run
            if stack is not None:
                dead = [c.name for c in stack.components.values() if not c.alive]
                if dead:
                    raise RuntimeError(f"components died: {dead}\n" + "\n".join(stack.tail(n) for n in dead))
            time.sleep(1)
        tis = [(t["task_id"], t.get("map_index"), t["state"]) for t in self.task_instances(dag_id, run_id)]
        raise TimeoutError(f"{dag_id} {run_id} not finished after {timeout:.0f} s: {tis}")

    def wait_new_run(self, dag_id: str, known: set[str], timeout: float = 120) -> str:
        """The run id of the first run of ``dag_id`` not in ``known`` (e.g. one an Asset event created)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.runs(dag_id):
                if r["dag_run_id"] not in known:
                    return r["dag_run_id"]
            time.sleep(1)
        raise TimeoutError(f"no new run of {dag_id} after {timeout:.0f} s")

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """The task's log as the UI shows it (the structured lines' events, one per line)."""
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                        map_index=map_index, full_content=True)
        content = body.get("content", [])
        if isinstance(content, str):
            return content
        return "\n".join(line.get("event", "") if isinstance(line, dict) else str(line) for line in content)

    def backfill(self, dag_id: str, from_date: str, to_date: str, conf: dict | None = None,
                 max_active_runs: int = 1) -> dict:
        return self.request("POST", "/backfills", json={
            "dag_id": dag_id, "from_date": from_date, "to_date": to_date, "run_backwards": False,
            "dag_run_conf": conf or {}, "reprocess_behavior": "none", "max_active_runs": max_active_runs})

    def set_connection(self, conn_id: str, **fields) -> None:
        body = {"connection_id": conn_id, **fields}
        r = self.session.post(f"{self.url}/api/v2/connections", json=body, timeout=30)
        if r.status_code == 409:
            self.request("PATCH", f"/connections/{conn_id}", json=body)
        elif r.status_code >= 400:
            raise RuntimeError(f"POST /connections: {r.status_code} {r.text[:500]}")
