# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Build the compiled record walker (kafkatwist/wire/_walk.c) in place.

Run: python tools/build_walk.py [--quiet]

Compiles C{kafkatwist/wire/_walk.c} with the C compiler and flags Python was
built with (C{sysconfig}), into C{kafkatwist/wire/_walk<EXT_SUFFIX>} next to
it, for the interpreter running this script. No setuptools needed, so it
works in the venv your_program.sh makes. Exits 1 (and the broker uses the
pure-Python walker of C{kafkatwist.wire.walk}) when there is no compiler.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "kafkatwist" / "wire" / "_walk.c"


def target() -> Path:
    """Where the extension goes: next to its source, named for this interpreter."""
    return SOURCE.with_name("_walk" + str(sysconfig.get_config_var("EXT_SUFFIX")))


def build() -> Path:
    """Compile the walker; raises C{subprocess.CalledProcessError} or C{OSError} on failure."""
    out = target()
    cc = shlex.split(str(sysconfig.get_config_var("CC") or "cc"))
    ldshared = str(sysconfig.get_config_var("LDSHARED") or "")
    shared = ["-bundle", "-undefined", "dynamic_lookup"] if "-bundle" in ldshared else ["-shared"]
    include = sysconfig.get_paths()["include"]
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    cmd = [*cc, "-O2", "-fPIC", "-Wall", "-I", include, *shared, str(SOURCE)]
    subprocess.run([*cmd, "-o", str(tmp)], check=True, capture_output=True, text=True)
    os.replace(tmp, out)  # atomic: a running broker never sees half a file
    return out


def main() -> int:
    """Build, and say what happened on stderr."""
    try:
        out = build()
    except (OSError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", None) or str(e)
        print(f"build_walk: not built, the pure-Python walker is used: {detail}", file=sys.stderr)
        return 1
    if "--quiet" not in sys.argv:
        print(f"build_walk: built {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
