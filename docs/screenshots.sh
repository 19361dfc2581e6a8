#!/usr/bin/env bash
# Regenerate docs/screenshots/ (the sample digest at 375 and 1200 px, light and dark).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "needs chromium: apt-get install -y chromium" >&2; exit 2; }
[ -x .venv/bin/python ] || { python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'; }
exec .venv/bin/python docs/screenshots.py
