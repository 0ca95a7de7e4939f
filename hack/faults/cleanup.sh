#!/usr/bin/env bash
# Stops whatever private PostgreSQL or RabbitMQ a fault-suite run left
# under DIR (the suite stops them itself; this covers a run that died, e.g.
# on go test's -timeout, before its cleanup ran). Idempotent.
#
# usage: hack/faults/cleanup.sh DIR
set -uo pipefail
dir=${1:?DIR}
here=$(cd "$(dirname "$0")" && pwd)

if [ -f "$dir/postgres/data/postmaster.pid" ]; then
  port=$(sed -n 4p "$dir/postgres/data/postmaster.pid")
  echo "stopping leftover PostgreSQL in $dir/postgres"
  "$here/postgres.sh" stop "$dir/postgres" "${port:-0}" || "$here/postgres.sh" kill "$dir/postgres" "${port:-0}"
fi
if [ -s "$dir/rabbitmq/port" ]; then
  port=$(cat "$dir/rabbitmq/port")
  if [ -s "$dir/rabbitmq/rabbitmq.pid" ] && kill -0 "$(cat "$dir/rabbitmq/rabbitmq.pid")" 2>/dev/null; then
    echo "stopping leftover RabbitMQ in $dir/rabbitmq"
  fi
  "$here/rabbitmq.sh" stop "$dir/rabbitmq" "$port" || "$here/rabbitmq.sh" kill "$dir/rabbitmq" "$port"
fi
exit 0
