#!/usr/bin/env bash
# `make down`: stop every process `make up` started (each is its own session: its workers go with it).
set -uo pipefail
LOCAL="${TRAINSET_LOCAL:-$(dirname "${AIRFLOW_HOME:?}")}"
RUN_DIR="${RUN_DIR:-$LOCAL/run}"
stopped=()
shopt -s nullglob
# The scheduler first (it stops handing out tasks), the peers last (a task's last alert still has somewhere to go).
for name in scheduler triggerer dag-processor api-server $(cd "$RUN_DIR" 2>/dev/null && ls *.pid | sed 's/\.pid$//') peers; do
  pidfile="$RUN_DIR/$name.pid"
  [[ -f "$pidfile" ]] || continue
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    stopped+=("$name")
  fi
  rm -f "$pidfile"
done
# `make up` before this change ran `airflow standalone`; stop one still running from then.
if [[ -f "$LOCAL/airflow-standalone.pid" ]]; then
  pid="$(cat "$LOCAL/airflow-standalone.pid")"
  kill -0 "$pid" 2>/dev/null && { kill -TERM -- "-$pid" 2>/dev/null; stopped+=("airflow-standalone"); }
  rm -f "$LOCAL/airflow-standalone.pid"
fi
if (( ${#stopped[@]} )); then echo "stopped: ${stopped[*]}"; else echo "the local stack was not running"; fi
