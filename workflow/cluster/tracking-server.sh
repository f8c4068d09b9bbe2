#!/usr/bin/env bash
# A shared MLflow tracking server for many parallel stage jobs: `mlflow server` on a PostgreSQL
# backend store (a local database cluster made and started here, Debian's postgresql) with a local
# artifact root served by the server. Stages use it through MLFLOW_TRACKING_URI, no code change.
#
#   workflow/cluster/tracking-server.sh serve            PostgreSQL + mlflow server in the foreground (Ctrl-C stops both)
#   workflow/cluster/tracking-server.sh up | down        the same in the background / stop what `up` started
#   workflow/cluster/tracking-server.sh run -- CMD...    up, CMD with MLFLOW_TRACKING_URI set, down (also on failure)
#   workflow/cluster/tracking-server.sh uri              the backend store's URI (for `mlflow server` by hand)
#
# Settings (environment):
#   SSLPIPE_TRACKING_HOST  127.0.0.1   address mlflow server binds (0.0.0.0 to serve compute nodes)
#   SSLPIPE_TRACKING_PORT  5000
#   SSLPIPE_TRACKING_WORKERS 4         server worker processes
#   SSLPIPE_ARTIFACTS      mlartifacts artifact root (directory here; an object store URI in production)
#   SSLPIPE_PG_DIR         .cache/pg   database cluster, socket and logs (owned by user postgres)
#   SSLPIPE_PG_PORT        5433        PostgreSQL port on 127.0.0.1
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HOST=${SSLPIPE_TRACKING_HOST:-127.0.0.1}
PORT=${SSLPIPE_TRACKING_PORT:-5000}
WORKERS=${SSLPIPE_TRACKING_WORKERS:-4}
ARTIFACTS=${SSLPIPE_ARTIFACTS:-$ROOT/mlartifacts}
PGPORT=${SSLPIPE_PG_PORT:-5433}
RUNDIR=$ROOT/.cache/tracking-server   # pid and log of mlflow server

die() { echo "error: tracking-server: $*" >&2; exit 1; }
log() { echo "tracking-server: $*" >&2; }

health() { python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "http://$HOST:$PORT/health" >/dev/null 2>&1; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

check_host() {
    [ "$(id -u)" = 0 ] || die "the local PostgreSQL cluster runs as user postgres, which needs root to set up; this shell is $(id -un). Fix: run as root, or run mlflow server yourself against an existing database (see README, 'Tracking server')."
    if [ -z "$(pg_bin)" ]; then
        command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is missing and there is no apt-get to install Debian's postgresql. Fix: install PostgreSQL (initdb, pg_ctl) with this system's package manager."
        log "installing postgresql"
        apt-get update -q >/dev/null || die "apt-get update failed (no package mirror reachable?)."
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null || die "apt-get install postgresql failed."
    fi
    [ -n "$(pg_bin)" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin after installing postgresql."
    command -v mlflow >/dev/null || die "mlflow is not on PATH. Fix: make install (or activate .venv)."
    python -c "import psycopg2" 2>/dev/null || die "the PostgreSQL driver for MLflow is missing. Fix: pip install -e '.[cluster]' (psycopg2-binary)."
}

# The cluster directory must be reachable by user postgres; a project under a private home is not.
pg_dir() {
    local d=${SSLPIPE_PG_DIR:-$ROOT/.cache/pg}
    mkdir -p "$(dirname "$d")"
    if [ -z "${SSLPIPE_PG_DIR:-}" ] && ! runuser -u postgres -- test -x "$(dirname "$d")"; then
        d=/var/lib/postgresql/sslpipe-$(echo -n "$ROOT" | sha256sum | cut -c1-12)
    fi
    echo "$d"
}

PGDIR=""
pg_ctl() { runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$PGDIR/data" "$@"; }
pg_sql() { runuser -u postgres -- "$(pg_bin)/psql" -h "$PGDIR" -p "$PGPORT" -U postgres -d postgres -qtA -v ON_ERROR_STOP=1 -c "$1"; }

pg_up() {
    PGDIR=$(pg_dir)
    mkdir -p "$PGDIR"
    chown postgres:postgres "$PGDIR"
    if [ ! -s "$PGDIR/data/PG_VERSION" ]; then
        log "creating a PostgreSQL cluster in $PGDIR/data"
        head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$PGDIR/password"
        chmod 600 "$PGDIR/password"
        runuser -u postgres -- "$(pg_bin)/initdb" -D "$PGDIR/data" -U postgres --auth-local=peer --auth-host=scram-sha-256 >/dev/null \
            || die "initdb failed in $PGDIR/data"
    fi
    if pg_ctl status >/dev/null 2>&1; then
        log "PostgreSQL already running ($PGDIR/data)"
    else
        pg_ctl -w -t 60 -l "$PGDIR/postgres.log" -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null \
            || die "PostgreSQL did not start: $(tail -n 5 "$PGDIR/postgres.log" 2>/dev/null)"
        echo "$PGDIR" >"$RUNDIR/pg-started"
    fi
    local pw
    pw=$(cat "$PGDIR/password")
    if [ "$(pg_sql "SELECT 1 FROM pg_roles WHERE rolname='mlflow'")" != 1 ]; then
        pg_sql "CREATE ROLE mlflow LOGIN PASSWORD '$pw'"
    fi
    if [ "$(pg_sql "SELECT 1 FROM pg_database WHERE datname='mlflow'")" != 1 ]; then
        pg_sql "CREATE DATABASE mlflow OWNER mlflow"
    fi
    BACKEND="postgresql://mlflow:$pw@127.0.0.1:$PGPORT/mlflow"
}

server_up() {  # foreground|background
    mkdir -p "$ARTIFACTS"
    if health; then
        die "something already answers on $HOST:$PORT. Fix: stop it, or set SSLPIPE_TRACKING_PORT."
    fi
    # the backend URI (with its password) goes through the environment, not the process list
    export MLFLOW_BACKEND_STORE_URI=$BACKEND
    local cmd=(mlflow server --artifacts-destination "$ARTIFACTS" --host "$HOST" --port "$PORT" --workers "$WORKERS")
    log "mlflow server on http://$HOST:$PORT (backend PostgreSQL 127.0.0.1:$PGPORT/mlflow, artifacts $ARTIFACTS)"
    if [ "$1" = foreground ]; then
        "${cmd[@]}"
        return
    fi
    setsid "${cmd[@]}" >"$RUNDIR/mlflow.log" 2>&1 &
    echo $! >"$RUNDIR/mlflow.pid"
    for _ in $(seq 240); do
        health && { log "ready"; return; }
        kill -0 "$(cat "$RUNDIR/mlflow.pid")" 2>/dev/null || die "mlflow server exited: $(tail -n 5 "$RUNDIR/mlflow.log")"
        sleep 0.5
    done
    die "mlflow server did not answer /health in 120 s: $(tail -n 5 "$RUNDIR/mlflow.log")"
}

down() {
    if [ -f "$RUNDIR/mlflow.pid" ]; then
        local pid
        pid=$(cat "$RUNDIR/mlflow.pid")
        kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true   # the server and its workers (own session)
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 -- "-$pid" 2>/dev/null || true   # still there after 10 s
        rm -f "$RUNDIR/mlflow.pid"
        log "stopped mlflow server"
    fi
    if [ -f "$RUNDIR/pg-started" ]; then
        PGDIR=$(cat "$RUNDIR/pg-started")
        pg_ctl -m fast -w stop >/dev/null 2>&1 && log "stopped PostgreSQL" || true
        rm -f "$RUNDIR/pg-started"
    fi
}

mkdir -p "$RUNDIR"
case "${1:-}" in
    serve)
        check_host
        trap down EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        pg_up
        server_up foreground
        ;;
    up) check_host; pg_up; server_up background ;;
    down) down ;;
    uri) check_host; pg_up; echo "$BACKEND" ;;
    run)
        shift
        [ "${1:-}" = "--" ] && shift
        [ $# -gt 0 ] || die "run needs a command: tracking-server.sh run -- CMD..."
        check_host
        trap down EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        pg_up
        server_up background
        MLFLOW_TRACKING_URI="http://$HOST:$PORT" SSLPIPE_TRACKING_BACKEND="$BACKEND" "$@"
        ;;
    *) echo "usage: $0 serve|up|down|uri|run -- CMD..." >&2; exit 2 ;;
esac
