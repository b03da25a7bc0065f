#!/usr/bin/env bash
# Run the kafkatwist broker in the foreground (the CodeCrafters entry point):
#
#   ./your_program.sh [path/to/server.properties] [twistd kafkatwist options]
#
# The first run creates .venv next to this script and installs the runtime
# dependencies listed in pyproject.toml; pip's output goes to .venv/install.log,
# never to the terminal. Later runs reuse .venv at once while pyproject.toml is
# unchanged. Each run also builds the compiled record walker if it is missing or
# stale (kafkatwist_walk). test.sh sources this file for kafkatwist_venv.
set -euo pipefail

KAFKATWIST_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
KAFKATWIST_VENV="$KAFKATWIST_REPO/.venv"

# kafkatwist_walk: build the compiled record walker (kafkatwist/wire/_walk.c)
# in place when it is missing or older than its source. Without a C compiler the
# build fails (logged in .venv/install.log) and the pure-Python walker is used.
kafkatwist_walk() {
    local src="$KAFKATWIST_REPO/kafkatwist/wire/_walk.c" built
    built=$(compgen -G "$KAFKATWIST_REPO/kafkatwist/wire/_walk.*.so" | head -n 1 || true)
    if [ -z "$built" ] || [ "$src" -nt "$built" ]; then
        "$KAFKATWIST_VENV/bin/python" "$KAFKATWIST_REPO/tools/build_walk.py" --quiet \
            >>"$KAFKATWIST_VENV/install.log" 2>&1 || true
    fi
}

# kafkatwist_venv [EXTRA...]: make .venv hold the runtime dependencies plus those
# of the named optional-dependency groups of pyproject.toml. A stamp holding the
# checksum of pyproject.toml skips all of it when nothing changed.
kafkatwist_venv() {
    local venv=$KAFKATWIST_VENV
    local log="$venv/install.log"
    local stamp="$venv/.installed${1:+-$(IFS=-; echo "$*")}"
    local want
    want=$(cksum <"$KAFKATWIST_REPO/pyproject.toml")
    if [ -x "$venv/bin/twistd" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        kafkatwist_walk
        return 0
    fi

    echo "kafkatwist: installing dependencies into $venv (log: $log)" >&2
    local python=${PYTHON:-python3}
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "kafkatwist: needs Python >= 3.11 as $python (set PYTHON=...)" >&2
        return 1
    fi
    # The fast path: a venv without its own pip, filled by the interpreter's pip
    # (pip >= 22.3 can install into another environment). It saves the few
    # seconds ensurepip costs on a first start. Otherwise: a venv with pip.
    local pip=("$venv/bin/python" -m pip)
    if "$python" -c 'import pip, sys; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (22, 3))' \
        2>/dev/null; then
        pip=("$python" -m pip --python "$venv/bin/python")
        if [ ! -x "$venv/bin/python" ]; then
            mkdir -p "$venv"
            "$python" -m venv --without-pip "$venv" >"$log" 2>&1 || {
                echo "kafkatwist: '$python -m venv' failed; see $log" >&2
                return 1
            }
        fi
    elif [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        mkdir -p "$venv"
        "$python" -m venv "$venv" >"$log" 2>&1 || {
            echo "kafkatwist: '$python -m venv' failed; see $log" >&2
            return 1
        }
    fi
    # The requirements come from pyproject.toml, so they are listed in one place.
    "$venv/bin/python" - "$KAFKATWIST_REPO/pyproject.toml" "$@" >"$venv/requirements.txt" <<'PY'
import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)["project"]
requirements = list(project["dependencies"])
for extra in sys.argv[2:]:
    requirements += project["optional-dependencies"][extra]
print("\n".join(requirements))
PY
    if ! PIP_ROOT_USER_ACTION=ignore "${pip[@]}" install -q \
        --disable-pip-version-check --no-input -r "$venv/requirements.txt" >>"$log" 2>&1; then
        echo "kafkatwist: pip install failed; the end of $log:" >&2
        tail -n 20 "$log" >&2
        return 1
    fi
    # Warm Twisted's plugin cache (dropin.cache) now rather than on the first start.
    PYTHONPATH=$KAFKATWIST_REPO "$venv/bin/python" -c \
        'from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))' >>"$log" 2>&1
    kafkatwist_walk
    echo "$want" >"$venv/.installed"
    echo "$want" >"$stamp"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    kafkatwist_venv
    # twisted/plugins/ of this checkout is found through sys.path: the installed
    # twistd script adds nothing to it.
    export PYTHONPATH="$KAFKATWIST_REPO${PYTHONPATH:+:$PYTHONPATH}"
    exec "$KAFKATWIST_VENV/bin/twistd" --nodaemon --pidfile= kafkatwist "$@"
fi
