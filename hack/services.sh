#!/usr/bin/env bash
# Makes sure the PostgreSQL and RabbitMQ the tests need are running on this
# machine: starts them when installed but stopped, installs them from
# Debian's packages when missing. Idempotent; CI runs it before `make test`.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then echo "$name is up"; return 0; fi
    sleep 1
  done
  echo "$name did not come up" >&2
  return 1
}

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "installing PostgreSQL"
  apt_install postgresql postgresql-client
fi
if ! pg_up; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
wait_for PostgreSQL pg_up
# Tests connect as postgres over TCP without a password (a fresh Debian
# install asks for one): trust loopback connections on this test machine.
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  wait_for "PostgreSQL (trust auth)" psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1'
fi

rabbit_up() { timeout 5 bash -c '</dev/tcp/127.0.0.1/5672'; }
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "installing RabbitMQ"
  apt_install rabbitmq-server
fi
if ! rabbit_up; then
  echo "starting RabbitMQ"
  $SUDO rabbitmq-server -detached || true
  wait_for RabbitMQ rabbit_up
fi
wait_for RabbitMQ rabbit_up
