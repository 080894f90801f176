#!/usr/bin/env bash
# Runs TicketAI with demo data: migrate, collectstatic, setup_demo, then a Celery worker and beat in
# the background and gunicorn in the foreground. Ctrl-C (or SIGTERM) stops all three.
# With no DATABASE_URL / REDIS_URL everything is embedded under TICKETAI_DATA_DIR (default var/).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${VENV:-.venv}/bin
PORT=${PORT:-8000}
HOST=${HOST:-127.0.0.1}
DATA_DIR=${TICKETAI_DATA_DIR:-var}
LOG_DIR="$DATA_DIR/log"
mkdir -p "$LOG_DIR"
export DJANGO_SETTINGS_MODULE=ticketai.settings
# Plain log lines for people reading a terminal; production and compose log JSON.
export TICKETAI_LOG_FORMAT="${TICKETAI_LOG_FORMAT:-plain}"

step() { printf '\n==> %s\n' "$*"; }

step "Migrating the database"
"$BIN/python" manage.py migrate --noinput

step "Collecting static files"
"$BIN/python" manage.py collectstatic --noinput --verbosity 0

step "Demo users and demo data"
# SETUP_DEMO_ARGS, e.g. "--no-data" or "--tickets 500", is passed through.
"$BIN/python" manage.py setup_demo ${SETUP_DEMO_ARGS:-}

step "Training a small demo model"
# Trained here, synchronously, so the pages show real recommendations at once: a sample of 1,500
# tickets, 2 epochs, 64 tokens (a few minutes on 2 cores). Skipped in a moment when the data has
# not changed since the last demo model. A failure (e.g. --no-data: nothing to learn from) is
# reported and the demo goes on without recommendations.
if "$BIN/python" manage.py train --sync --max-train-samples 1500 --epochs 2 --max-length 64 \
    >"$LOG_DIR/demo-train.json"; then
    "$BIN/python" - "$LOG_DIR/demo-train.json" <<'PY'
import json, sys

r = json.load(open(sys.argv[1]))
if r["model_version"]:
    f1 = (r.get("metrics") or {}).get("macro_f1", 0.0)
    print(f"run #{r['run']} {r['status']}: model v{r['model_version']} is {r['model_status']}, macro-F1 {f1:.3f}")
else:
    print(f"run #{r['run']} {r['status']}: {r['reason']}")
PY
    # The queue shows stored answers only (never inference per row): answer the newest open tickets now.
    "$BIN/python" manage.py recommend --latest 300 || echo "(could not precompute recommendations)"
else
    echo "(no demo model: training did not succeed; see the message above)"
fi

pids=()
stop_all() {
    trap - INT TERM EXIT
    echo
    echo "Stopping TicketAI..."
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "Starting the Celery worker (queues default,training) and beat; logs in $LOG_DIR/"
"$BIN/celery" -A ticketai worker -Q default,training --concurrency "${CELERY_CONCURRENCY:-2}" \
    --loglevel INFO >"$LOG_DIR/worker.log" 2>&1 &
pids+=($!)
"$BIN/celery" -A ticketai beat --loglevel INFO >"$LOG_DIR/beat.log" 2>&1 &
pids+=($!)

step "TicketAI is at http://$HOST:$PORT/  (login page: http://$HOST:$PORT/login/; Ctrl-C stops)"
"$BIN/python" manage.py setup_demo --logins-only
echo
# Started in the background and waited for, so the traps fire at once on Ctrl-C or SIGTERM.
"$BIN/gunicorn" -c python:ticketai.gunicorn_config ticketai.wsgi --bind "$HOST:$PORT" \
    --workers "${WEB_CONCURRENCY:-2}" \
    --access-logfile - --log-level info --no-control-socket &
pids+=($!)
wait "${pids[-1]}"
