#!/usr/bin/env bash
# The benchmark in one command: installs what it needs (Postfix's smtp-sink and
# smtp-source from Debian's `postfix`; `postgresql`; the package into .venv), then runs
# bench/run.py with the arguments given (e.g. --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v smtp-sink >/dev/null 2>&1 && [ ! -x /usr/sbin/smtp-sink ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends postfix >/dev/null
fi
# PostgreSQL for bench/workers.py (send workers sharing one database; a
# throw-away server is started in a temporary folder).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends postgresql >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e .
exec .venv/bin/python bench/run.py "$@"
