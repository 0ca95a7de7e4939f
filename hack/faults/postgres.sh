#!/usr/bin/env bash
# A private PostgreSQL for the fault suite (test/faults), so the suite can
# kill and restart a database without touching the shared one on 5432.
#
# usage: hack/faults/postgres.sh start|stop|crash|restart-immediate|kill|status DIR PORT
#
#   start              initdb DIR/data on first use, then start on 127.0.0.1:PORT
#                      (trust auth, user postgres, socket in DIR/sock) and wait
#   stop               fast shutdown and wait (no-op when not running)
#   crash              immediate shutdown (-m immediate): every backend dies
#                      without a checkpoint, as in a crash; the next start
#                      runs WAL recovery
#   restart-immediate  crash and start again at once
#   kill               SIGKILL the postmaster and every backend (cleanup of last resort)
#   status             exit 0 when the server accepts connections
#
# PostgreSQL refuses to run as root, so as root every command runs as the
# postgres user in a directory it owns. fsync is off: the suite simulates
# process crashes, not power loss, and writes the kernel already has survive
# a process crash; synchronous_commit stays on so no committed row is lost.
set -euo pipefail

cmd=${1:?usage: postgres.sh start|stop|crash|restart-immediate|kill|status DIR PORT}
dir=${2:?DIR}
port=${3:?PORT}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
data=$dir/data
log=$dir/postgres.log

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

init() {
  mkdir -p "$dir/sock"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir" "$dir/sock"; fi
  as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/sock'
max_connections = 200
fsync = off
full_page_writes = off
shared_buffers = 128MB
log_min_messages = warning
log_line_prefix = '%m [%p] '
CONF
}

running() { as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

case $cmd in
start)
  [ -f "$data/PG_VERSION" ] || init
  running || as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null
  ;;
stop)
  if [ -f "$data/PG_VERSION" ] && running; then
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
  fi
  ;;
crash)
  as_pg "$bin/pg_ctl" -D "$data" -m immediate -w -t 60 stop >/dev/null
  ;;
restart-immediate)
  as_pg "$bin/pg_ctl" -D "$data" -l "$log" -m immediate -w -t 60 restart >/dev/null
  ;;
kill)
  if [ -f "$data/postmaster.pid" ]; then
    pid=$(head -1 "$data/postmaster.pid")
    # The backends are the postmaster's children; kill them with it.
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  fi
  ;;
status)
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"
  ;;
*)
  echo "unknown command $cmd" >&2
  exit 2
  ;;
esac
