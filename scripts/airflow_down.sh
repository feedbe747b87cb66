#!/usr/bin/env bash
# `make down`: stop every process `make up` started (each is its own session: its workers go with it).
# The Airflow processes together first (TERM, up to 30 s, then KILL), the peers last, so a task's last alert
# still has somewhere to go.
set -uo pipefail
LOCAL="${TRAINSET_LOCAL:-$(dirname "${AIRFLOW_HOME:?}")}"
RUN_DIR="${RUN_DIR:-$LOCAL/run}"
stopped=()
shopt -s nullglob

stop_group() {  # names...: TERM every session at once, wait for all, KILL what is left
  local name pid pids=()
  for name in "$@"; do
    [[ -f "$RUN_DIR/$name.pid" ]] || continue
    pid="$(cat "$RUN_DIR/$name.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
      pids+=("$pid"); stopped+=("$name")
    fi
    rm -f "$RUN_DIR/$name.pid"
  done
  for _ in $(seq 1 30); do
    local left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    (( left )) || break
    sleep 1
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}

airflow_parts=()
for pidfile in "$RUN_DIR"/*.pid; do
  name="$(basename "$pidfile" .pid)"
  [[ "$name" == peers ]] || airflow_parts+=("$name")
done
stop_group "${airflow_parts[@]}"
stop_group peers
# `make up` before this change ran `airflow standalone`; stop one still running from then.
if [[ -f "$LOCAL/airflow-standalone.pid" ]]; then
  pid="$(cat "$LOCAL/airflow-standalone.pid")"
  kill -0 "$pid" 2>/dev/null && { kill -TERM -- "-$pid" 2>/dev/null; stopped+=("airflow-standalone"); }
  rm -f "$LOCAL/airflow-standalone.pid"
fi
if (( ${#stopped[@]} )); then echo "stopped: ${stopped[*]}"; else echo "the local stack was not running"; fi
