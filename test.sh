#!/usr/bin/env bash
# Run the whole test suite, under trial and under pytest: ./test.sh
#
# Installs the runtime and dev dependencies into .venv (shared with
# your_program.sh; pip's output goes to .venv/install.log) and, as root, tries to
# install kcat for the integration tests. Exits non-zero if either runner fails.
set -euo pipefail

# shellcheck source=your_program.sh
source "$(dirname "${BASH_SOURCE[0]}")/your_program.sh"
cd "$KAFKATWIST_REPO"
kafkatwist_venv dev

if ! command -v kcat >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing kcat with apt-get (best effort; log: .venv/apt.log)"
    if ! {
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q kcat || { apt-get update -q && apt-get install -y -q kcat; }
    } >"$KAFKATWIST_VENV/apt.log" 2>&1; then
        echo "test.sh: could not install kcat; tests that need it will skip"
    fi
fi

export PYTHONPATH="$KAFKATWIST_REPO${PYTHONPATH:+:$PYTHONPATH}"

trial_status=0
echo "== trial tests"
"$KAFKATWIST_VENV/bin/trial" tests || trial_status=$?

pytest_status=0
echo "== pytest"
"$KAFKATWIST_VENV/bin/python" -m pytest || pytest_status=$?

verdict() { if [ "$1" = 0 ]; then echo "passed"; else echo "FAILED (exit $1)"; fi; }
echo "== summary: trial $(verdict "$trial_status"), pytest $(verdict "$pytest_status")"
[ "$trial_status" = 0 ] && [ "$pytest_status" = 0 ]
