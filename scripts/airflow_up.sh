#!/usr/bin/env bash
# `make up`: Airflow standalone (api-server, scheduler, dag-processor, triggerer) on the embedded PostgreSQL.
# The Makefile exports the environment (AIRFLOW_HOME, metadata DB, connections) before calling this.
set -euo pipefail
LOCAL="$(dirname "$AIRFLOW_HOME")"
PIDFILE="$LOCAL/airflow-standalone.pid"
LOG="$LOCAL/airflow-standalone.log"
PORT="${AIRFLOW__API__PORT:-8080}"

if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "airflow standalone already running (pid $(cat "$PIDFILE")); log: $LOG"
else
  # setsid: its own process group, so `make down` stops every component it started.
  setsid nohup airflow standalone > "$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  echo -n "starting airflow standalone (pid $(cat "$PIDFILE")), log $LOG "
  for _ in $(seq 1 180); do
    if curl -fsS "http://localhost:$PORT/api/v2/monitor/health" > /dev/null 2>&1; then break; fi
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then echo; echo "airflow standalone exited:"; tail -30 "$LOG"; exit 1; fi
    echo -n "."; sleep 2
  done
  echo
fi
PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
for _ in $(seq 1 30); do [[ -s "$PASSWORDS" ]] && break; sleep 1; done
echo "Airflow UI: http://localhost:$PORT"
if [[ -s "$PASSWORDS" ]]; then
  python - "$PASSWORDS" <<'PY'
import json, sys
for user, password in json.load(open(sys.argv[1])).items():
    print(f"login: {user} / {password}")
PY
fi
echo "DAGs start paused: unpause them in the UI (or: airflow dags unpause collect). Stop with: make down"
