#!/usr/bin/env bash
# A private RabbitMQ node for the fault suite (test/faults), so the suite can
# stop and restart a broker without touching the shared one on 5672.
#
# usage: hack/faults/rabbitmq.sh start|stop|kill|ctl|status DIR PORT [rabbitmqctl args...]
#
#   start   start node vigilfaults-PORT@localhost with AMQP on 127.0.0.1:PORT
#           (data and logs under DIR) and wait until it accepts work
#   stop    stop the node gracefully and wait for its process to exit, then
#           stop the node's private epmd
#   kill    SIGKILL the node and its epmd (cleanup of last resort)
#   ctl     run rabbitmqctl against the node, e.g. `ctl DIR PORT close_all_connections x`
#   status  exit 0 when the node is up
#
# Every port is derived from PORT and below 32768: AMQP PORT, Erlang
# distribution PORT+1, a private epmd on PORT+2 (so the node registers with
# no epmd it does not own) and rabbitmqctl's own distribution ports
# PORT+3..PORT+12 (its default, 35672+, is above the range tests may use).
# HOME is DIR/home, so the Erlang cookie is private too.
set -euo pipefail

cmd=${1:?usage: rabbitmq.sh start|stop|kill|ctl|status DIR PORT}
dir=${2:?DIR}
port=${3:?PORT}
shift 3
sbin=${RABBITMQ_SBIN:-/usr/lib/rabbitmq/bin}

mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
echo "$port" >"$dir/port" # for cleanup.sh
[ -f "$dir/enabled_plugins" ] || echo '[].' >"$dir/enabled_plugins"
[ -f "$dir/rabbitmq.conf" ] || cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$port
loopback_users.guest = true
log.console = false
log.file.level = warning
CONF
: >"$dir/rabbitmq-env.conf"

export HOME=$dir/home
export RABBITMQ_NODENAME=vigilfaults-$port@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$port
export RABBITMQ_DIST_PORT=$((port + 1))
export ERL_EPMD_PORT=$((port + 2))
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_CTL_DIST_PORT_MIN=$((port + 3))
export RABBITMQ_CTL_DIST_PORT_MAX=$((port + 12))
export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf
export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
export RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config
export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
export RABBITMQ_MNESIA_BASE=$dir/mnesia
export RABBITMQ_LOG_BASE=$dir/log
export RABBITMQ_PID_FILE=$dir/rabbitmq.pid
export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"

ctl() { timeout 120 "$sbin/rabbitmqctl" -q -n "$RABBITMQ_NODENAME" "$@"; }

node_pid() { [ -s "$RABBITMQ_PID_FILE" ] && cat "$RABBITMQ_PID_FILE"; }

case $cmd in
start)
  if ctl status >/dev/null 2>&1; then exit 0; fi
  rm -f "$RABBITMQ_PID_FILE"
  # setsid: the node must not share the caller's process group, so that a
  # signal meant for the test runner does not reach the broker mid-test.
  setsid "$sbin/rabbitmq-server" >>"$dir/log/console.log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    if [ -s "$RABBITMQ_PID_FILE" ]; then break; fi
    sleep 0.5
  done
  ctl wait --timeout 120 "$RABBITMQ_PID_FILE" >/dev/null
  ctl await_startup --timeout 120 >/dev/null
  ;;
stop)
  if pid=$(node_pid) && kill -0 "$pid" 2>/dev/null; then
    ctl stop "$RABBITMQ_PID_FILE" >/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
  ;;
kill)
  if pid=$(node_pid); then kill -KILL "$pid" 2>/dev/null || true; fi
  epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
  ;;
ctl)
  ctl "$@"
  ;;
status)
  ctl status >/dev/null 2>&1
  ;;
*)
  echo "unknown command $cmd" >&2
  exit 2
  ;;
esac
