#!/usr/bin/env bash
# Serve the seeded Control Room emulator (the dashboard joins it in the next step).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m robocorp_api.emulator --host 127.0.0.1 --port 8765 --seed demo
