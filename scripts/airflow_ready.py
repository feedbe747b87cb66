"""`make up`, last step: wait until every component is healthy and every DAG is parsed, unpause the DAGs, print
where things are.  Only the REST API (``POST /auth/token``, ``/api/v2/...``), as a user's script would do it."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HEALTH_OF = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


def call(url: str, method: str = "GET", body: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers),
                                timeout=30) as response:
        return json.loads(response.read() or b"{}")


def alive(run_dir: Path, name: str) -> bool:
    import os

    try:
        os.kill(int((run_dir / f"{name}.pid").read_text()), 0)
        return True
    except (OSError, ValueError):
        return False


def wait_healthy(args, components: list[str]) -> None:
    wanted = ["metadatabase"] + [HEALTH_OF[c] for c in components if c in HEALTH_OF]
    deadline, last = time.monotonic() + args.timeout, "no answer yet"
    while time.monotonic() < deadline:
        dead = [c for c in components if not alive(args.run_dir, c)]
        if dead:
            for name in dead:
                log = args.run_dir / f"{name}.log"
                tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
                print(f"{name} exited; last lines of {log}:\n" + "\n".join(tail), file=sys.stderr)
            raise SystemExit(1)
        try:
            health = call(f"{args.url}/api/v2/monitor/health")
            sick = [k for k in wanted if (health.get(k) or {}).get("status") != "healthy"]
            if not sick:
                return
            last = f"not healthy yet: {', '.join(sick)}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = f"api-server not answering ({exc})"
        time.sleep(2)
    raise SystemExit(f"not healthy after {args.timeout} s: {last}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--passwords", type=Path, required=True)
    parser.add_argument("--dags-folder", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--components", default="")
    parser.add_argument("--unpause", default="1")
    parser.add_argument("--timeout", type=int, default=300)
    args = parser.parse_args()

    started = time.monotonic()
    wait_healthy(args, args.components.split())
    for _ in range(60):  # the api-server writes the generated password at start
        if args.passwords.exists() and args.passwords.read_text().strip():
            break
        time.sleep(1)
    user, password = next(iter(json.loads(args.passwords.read_text()).items()))
    token = call(f"{args.url}/auth/token", "POST", {"username": user, "password": password})["access_token"]

    # One DAG per file in dags/: wait until the dag-processor has parsed them all (or reported why not).
    expected = len([p for p in args.dags_folder.glob("*.py") if not p.name.startswith("_")])
    while True:
        errors = call(f"{args.url}/api/v2/importErrors", token=token).get("import_errors", [])
        if errors:
            for error in errors:
                print(f"DAG import error in {error['filename']}:\n{error['stack_trace']}", file=sys.stderr)
            return 1
        dags = call(f"{args.url}/api/v2/dags?limit=100", token=token)["dags"]
        if len(dags) >= expected:
            break
        if time.monotonic() - started > args.timeout:
            print(f"only {len(dags)} of {expected} DAGs parsed after {args.timeout} s", file=sys.stderr)
            return 1
        time.sleep(2)

    if args.unpause == "1":
        for dag in dags:
            if dag["is_paused"]:
                call(f"{args.url}/api/v2/dags/{dag['dag_id']}?update_mask=is_paused", "PATCH",
                     {"is_paused": False}, token=token)
        state = (f"{len(dags)} DAGs, all unpaused (schedules wait for their next time; Assets chain the stages; "
                 "keep them paused with UNPAUSE=0)")
    else:
        paused = sorted(d["dag_id"] for d in dags if d["is_paused"])
        state = (f"{len(dags)} DAGs, paused: {', '.join(paused) or 'none'}. A paused DAG runs nothing, not even "
                 "a backfill or the next stage's Asset run: unpause it, or tick 'Unpause ... on trigger'")
    print(f"Airflow UI: {args.url}   login: {user} / {password}")
    print(state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
