#!/usr/bin/env bash
# Start the local Redis and PostgreSQL the tests and `make run` need, if they are not already running.
# Installs them from Debian's packages when missing (root on the dev/CI machines).
set -euo pipefail

need_apt=""
command -v redis-server >/dev/null 2>&1 || need_apt="$need_apt redis-server"
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt="$need_apt postgresql"
if [ "${WORKROOM_BROWSER_TESTS:-1}" = "1" ] && [ ! -x /usr/bin/chromium ]; then
  need_apt="$need_apt chromium"
fi
if [ -n "$need_apt" ]; then
  echo "installing:$need_apt"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_apt >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if [ "${WORKROOM_NEED_POSTGRES:-1}" = "1" ] && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "starting postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.1; done
fi
