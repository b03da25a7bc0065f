"""The image's entry point: C{python -m kafkatwist.container [server.properties] [options]}.

It writes the broker's properties file and then execs C{twistd --nodaemon
--pidfile= kafkatwist FILE [options]} in its place (so the broker is the
container's first process and gets C{docker stop}'s SIGTERM). The file is,
in order of precedence:

  1. the C{KAFKA_*} environment variables (L{kafkatwist.config.environment});
  2. the properties file given as the first argument, if that argument does
     not start with C{-}; otherwise the image's defaults,
     C{$KAFKATWIST_DEFAULT_PROPERTIES}.

The result goes to C{$KAFKATWIST_PROPERTIES} (mode 0600: it may hold
passwords, which is also why they are not passed as C{--override}
arguments, visible to every process), where C{python -m
kafkatwist.healthcheck} finds the listener to probe. The other arguments
are passed on to twistd's C{kafkatwist} command, and win over the file.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Mapping, Sequence

from attrs import frozen

from kafkatwist.config.environment import (
    VariableError,
    environment_properties,
    property_name,
)
from kafkatwist.config.java_properties import (
    decode_properties,
    format_properties,
    parse_properties,
)
from kafkatwist.config.values import ConfigError

__all__ = ["DEFAULT_PROPERTIES", "PROPERTIES", "Launch", "LaunchError", "main", "prepare"]

#: Where the image keeps its defaults, and the variable that may move them.
DEFAULT_PROPERTIES = "/etc/kafkatwist/server.properties"
#: Where the effective file is written, and the variable that may move it.
PROPERTIES = "/tmp/kafkatwist/server.properties"


class LaunchError(Exception):
    """The properties file to start from cannot be read."""


@frozen
class Launch:
    """What L{prepare} wrote and what to run."""

    #: The file the properties were read from (the image's defaults or the argument).
    source: str
    #: The effective properties file that was written.
    written: str
    #: The C{KAFKA_*} variables that set properties, by name (never their values).
    variables: tuple[str, ...]
    #: The argument vector to exec.
    argv: tuple[str, ...]


def prepare(args: Sequence[str], environ: Mapping[str, str], twistd: str) -> Launch:
    """
    Write the effective properties file and return the command to run.

    @param args: the container's arguments (the image's C{CMD} or the user's).
    @param environ: the container's environment.
    @param twistd: the twistd script to run.
    @raise VariableError: for a bad C{KAFKA_*} variable name.
    @raise LaunchError: when the source cannot be read or parsed.
    @raise OSError: when the file cannot be written.
    """
    if args and not args[0].startswith("-"):
        source, rest = args[0], list(args[1:])
    else:
        source, rest = environ.get("KAFKATWIST_DEFAULT_PROPERTIES", DEFAULT_PROPERTIES), list(args)
    written = environ.get("KAFKATWIST_PROPERTIES", PROPERTIES)
    try:
        properties = parse_properties(_read(source))
    except ConfigError as e:
        raise LaunchError(f"{source}: {e}") from None
    except OSError as e:
        raise LaunchError(f"cannot read {source}: {e.strerror}") from None
    properties.update(environment_properties(environ))
    directory = os.path.dirname(written)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    partial = f"{written}.{os.getpid()}.new"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as f:
        f.write(f"# Written by kafkatwist.container from {source} and the KAFKA_* variables.\n")
        f.write(format_properties(properties.items()))
    os.replace(partial, written)
    variables = tuple(sorted(v for v in environ if property_name(v) is not None))
    argv = (twistd, "--nodaemon", "--pidfile=", "kafkatwist", written, *rest)
    return Launch(source, written, variables, argv)


def _read(path: str) -> str:
    """The text of a properties file, as the broker reads it (L{decode_properties})."""
    with open(path, "rb") as f:
        return decode_properties(f.read())


def main(args: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    """Prepare and exec twistd; on a bad variable or file, one line on stderr and exit status 1."""
    twistd = os.path.join(sysconfig.get_path("scripts"), "twistd")
    try:
        launch = prepare(
            sys.argv[1:] if args is None else args,
            os.environ if environ is None else environ,
            twistd,
        )
    except (VariableError, LaunchError, OSError) as e:
        sys.stderr.write(f"kafkatwist.container: {e}\n")
        raise SystemExit(1) from None
    sys.stderr.write(
        f"kafkatwist.container: {launch.written} from {launch.source}"
        + (f" and {', '.join(launch.variables)}" if launch.variables else "")
        + "\n"
    )
    sys.stderr.flush()
    os.execv(twistd, list(launch.argv))


if __name__ == "__main__":
    main()
