#!/usr/bin/env bash
# One command for a working dashboard: migrate, then run the emulator, web, and a worker with embedded
# beat under honcho (Procfile.dev); once the emulator answers, create the demo admin/team/workspace.
# Ctrl-C stops every process. `make run` calls this after ensuring the venv and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$PWD/.venv/bin:$PATH"
export PYTHONUNBUFFERED=1
export WORKROOM_DEV="${WORKROOM_DEV:-1}"
export WORKROOM_EMULATOR_URL="${WORKROOM_EMULATOR_URL:-http://127.0.0.1:8765}"
export WORKROOM_WEB_URL="${WORKROOM_WEB_URL:-http://127.0.0.1:8000}"
# The demo has no mail server: alert, digest and mention emails are printed in the worker's log.
export EMAIL_BACKEND="${EMAIL_BACKEND:-django.core.mail.backends.console.EmailBackend}"
export WORKROOM_BASE_URL="${WORKROOM_BASE_URL:-http://127.0.0.1:8000}"

wait_for() {  # wait_for URL SECONDS: poll until URL answers (any HTTP status)
  local url="$1" deadline=$((SECONDS + $2))
  until python - "$url" <<'PY' 2>/dev/null
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
PY
  do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.5
  done
}

setup_demo() {
  # Runs inside honcho: after this, stay alive (honcho stops everything when one process exits).
  local sleeper=""
  trap 'if [[ -n "$sleeper" ]]; then kill "$sleeper" 2>/dev/null; fi; exit 0' TERM INT
  if ! wait_for "$WORKROOM_EMULATOR_URL/__emulator__/info" 60; then
    echo "the emulator did not answer at $WORKROOM_EMULATOR_URL within 60 s" >&2
    exit 1
  fi
  python manage.py bootstrap_demo --emulator-url "$WORKROOM_EMULATOR_URL" --username "${WORKROOM_DEMO_USER:-admin}"
  if wait_for "$WORKROOM_WEB_URL/login/" 60; then
    # Webhooks: the emulator tells Workroom when a run changes, and that run is synced at once.
    python manage.py register_webhooks "Demo workspace" --site-url "$WORKROOM_WEB_URL" \
      || echo "webhooks not registered; the scheduled syncs still follow every change" >&2
    echo
    echo "================================================================================"
    echo " Workroom is running at $WORKROOM_WEB_URL — log in as '${WORKROOM_DEMO_USER:-admin}'"
    echo " (password: ${WORKROOM_DEMO_PASSWORD:-workroom-demo}, unless you changed it). Ctrl-C stops everything."
    echo "================================================================================"
    echo
  fi
  sleep infinity &
  sleeper=$!
  wait "$sleeper"
}

if [[ "${1:-}" == "--setup-demo" ]]; then
  setup_demo
  exit 0
fi

mkdir -p var
python manage.py migrate --noinput
if [[ "$(python -c 'import django, os; os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings"); django.setup(); from django.conf import settings; print(settings.DEBUG)')" != "True" ]]; then
  # Without DEBUG, static files come from STATIC_ROOT through whitenoise's manifest.
  python manage.py collectstatic --noinput -v 0
fi
exec honcho -f Procfile.dev start
