#!/usr/bin/env bash
# `make down`: stop what `make up` started (the whole process group of airflow standalone).
set -uo pipefail
LOCAL="$(dirname "${AIRFLOW_HOME:?}")"
PIDFILE="$LOCAL/airflow-standalone.pid"
if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  PID="$(cat "$PIDFILE")"
  kill -TERM -- "-$PID" 2>/dev/null || kill -TERM "$PID"
  for _ in $(seq 1 30); do kill -0 "$PID" 2>/dev/null || break; sleep 1; done
  kill -KILL -- "-$PID" 2>/dev/null || true
  echo "airflow standalone stopped"
else
  echo "airflow standalone was not running"
fi
rm -f "$PIDFILE"
