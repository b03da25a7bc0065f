"""twistd options and service construction for kafkatwist, after twisted/names/tap.py.

C{twistd -n kafkatwist [options] [path/to/server.properties]} reads a Kafka
C{server.properties} file (Kafka's broker config names and defaults; see
L{kafkatwist.config.properties}) and runs the broker in the foreground.
"""

from __future__ import annotations

import atexit
import getopt
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from attrs import evolve
from twisted.application.service import Service
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure

from kafkatwist.config.java_properties import decode_properties, parse_properties
from kafkatwist.config.properties import BrokerConfig, ConfigError, Listener
from kafkatwist.config.trace_config import ENABLE as TRACE_ENABLE
from kafkatwist.transport.banner import log_started, version_line
from kafkatwist.transport.service import StartupError, check_listeners

_log = Logger()


class Options(usage.Options):
    """Command-line options for C{twistd kafkatwist}."""

    synopsis = "[options] [path/to/server.properties] [options]"
    longdesc = (
        "Run a Kafka-compatible broker. The optional positional argument is a Kafka "
        "server.properties file; without it Kafka's defaults apply. Command-line "
        "options win over the file."
    )

    optParameters = [
        [
            "listen",
            None,
            None,
            "Twisted server endpoint to listen on, e.g. tcp:9092 or "
            "tcp:0:interface=127.0.0.1 (default: from the listeners property). It replaces "
            "the first listener's address; the others are bound as configured. Unless "
            "advertised.listeners is set, clients are then told the bound port.",
        ],
        [
            "log-dirs",
            None,
            None,
            "Comma-separated directories for the partition logs (overrides log.dirs).",
        ],
        ["node-id", None, None, "This broker's node id (overrides node.id)."],
    ]

    optFlags = [
        [
            "trace",
            None,
            "Log each request and response decoded, as JSON lines (sets "
            "kafkatwist.trace.enable=true; see the README's Protocol trace).",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call, unused-ignore]
        self["properties"] = None
        self["overrides"] = {}

    def opt_override(self, setting: str) -> None:
        """Set one property as KEY=VALUE, over the file (repeatable, like Kafka's --override)."""
        key, separator, value = setting.partition("=")
        if not separator or not key.strip():
            raise usage.UsageError(f"--override expects KEY=VALUE, not {setting!r}")
        self["overrides"][key.strip()] = value

    def opt_version(self) -> None:
        """Print kafkatwist's version (and Twisted's and Python's) and exit."""
        print(version_line())
        raise SystemExit(0)

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        """
        Parse the command line; options may also follow the properties file.

        Kafka's C{kafka-server-start.sh server.properties --override k=v}
        order works as well as options first. Run as C{twistd kafkatwist},
        a usage or config error is one line on stderr and exit status 1
        (twistd itself would print its whole usage text above it).
        """
        argv = list(sys.argv[1:] if options is None else options)
        try:
            super().parseOptions(  # type: ignore[no-untyped-call, unused-ignore]
                _options_first(argv, self.shortOpt, self.longOpt)
            )
        except usage.UsageError as e:
            if self.parent is None:
                raise
            _print_error(f"kafkatwist: {e}")
            raise SystemExit(1) from None

    def parseArgs(self, properties_path: str | None = None) -> None:
        """Accept the optional path to server.properties (the CodeCrafters tester passes one)."""
        self["properties"] = properties_path

    def postOptions(self) -> None:
        """Read the properties file and build C{self["config"]} and C{self["endpoint"]}."""
        props = parse_properties(self._read_properties()) if self["properties"] else {}
        overrides = dict(self["overrides"])
        if self["log-dirs"] is not None:
            overrides["log.dirs"] = self["log-dirs"]
        if self["node-id"] is not None:
            overrides["node.id"] = self["node-id"]
        if self["trace"]:
            overrides[TRACE_ENABLE] = "true"
        where = self["properties"] or "configuration"
        try:
            config = BrokerConfig.from_properties(props, overrides=overrides)
        except ConfigError as e:
            raise usage.UsageError(f"{where}: {e}") from None
        try:
            check_listeners(config)
        except StartupError as e:
            raise usage.UsageError(f"{where}: {e}") from None

        endpoint = self["listen"]
        if endpoint is None:
            endpoint = config.listen_endpoint()
        else:
            _check_endpoint(endpoint)
            if not config.has_advertised_listeners():
                # The listeners property no longer says where we listen: advertise
                # "the host the client used" and "the port we bound" instead.
                name = config.serving_listener().name
                config = evolve(config, advertised_listeners=(Listener(name, "", 0),))
        self["config"] = config
        self["endpoint"] = endpoint

    def _read_properties(self) -> str:
        path = self["properties"]
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise usage.UsageError(f"Cannot read properties file {path}: {e.strerror}") from None
        return decode_properties(data)


def _options_first(argv: list[str], short: str, long: list[str]) -> list[str]:
    """
    C{argv} with every option before the positional arguments (GNU order).

    Twisted's parser stops at the first positional argument, so
    C{server.properties --override k=v} would leave the options as extra
    arguments. Options are put back as one word each (C{--key=value}).

    @raise usage.UsageError: for an unknown option or a missing value.
    """
    try:
        opts, args = getopt.gnu_getopt(argv, short, long)
    except getopt.error as e:
        raise usage.UsageError(str(e)) from None
    words = []
    for opt, value in opts:
        if opt.startswith("--"):
            words.append(f"{opt}={value}" if f"{opt[2:]}=" in long else opt)
        else:
            words.append(f"{opt}{value}")
    return [*words, "--", *args] if args else words


def _print_error(line: str) -> None:
    """Write one line to the process's real stderr (twistd may have redirected sys.stderr)."""
    stream = sys.__stderr__ or sys.stderr
    stream.write(line + "\n")
    stream.flush()


def _exit_status(code: int) -> None:
    """At interpreter exit (after twistd's own clean-up), end the process with C{code}."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _exit_nonzero(failure: Failure) -> None:
    """
    Make a failed start end the process with status 1.

    The service has logged why (one line, or the traceback of a bug) and
    stops the reactor; twistd then returns normally, which would exit 0.
    """
    atexit.register(_exit_status, 1)


class _SystemEvents(Protocol):
    """The part of C{IReactorCore} that L{_exit_at_once_after_stop} uses."""

    def addSystemEventTrigger(
        self, phase: str, eventType: str, callable: Callable[..., object], *args: object
    ) -> object: ...


def _exit_at_once_after_stop(port: object, reactor: _SystemEvents) -> object:
    """
    Once the broker serves, let its clean stop end the process at once.

    After the reactor has shut down (the broker stopped: logs closed, synced
    and marked clean), the process exits 0 through L{_exit_status} without
    the interpreter's teardown, which frees every object one by one: about
    half a second of a clean stop with 10,000 partitions loaded, for nothing.
    """
    reactor.addSystemEventTrigger("after", "shutdown", atexit.register, _exit_status, 0)
    return port


def _check_endpoint(description: str) -> None:
    """Raise UsageError unless C{description} is a server endpoint string Twisted can parse."""
    try:
        # Parsing needs no reactor: TCP/UNIX endpoints only store it until listen().
        serverFromString(cast(Any, None), description)  # type: ignore[no-untyped-call, unused-ignore]
    except (ValueError, TypeError, KeyError) as e:
        raise usage.UsageError(f"--listen {description!r}: {e}") from None


def _log_ignored_keys(config: BrokerConfig, log: Logger = _log) -> None:
    """Log, once, the properties kafkatwist accepted but does not use."""
    if config.unused_keys:
        log.info(
            "Ignoring Kafka settings kafkatwist does not use: {keys}",
            keys=", ".join(config.unused_keys),
        )
    if config.unknown_keys:
        log.warn(
            "Ignoring unknown settings (neither Kafka nor kafkatwist uses them): {keys}",
            keys=", ".join(config.unknown_keys),
        )


def makeService(options: Options) -> Service:
    """Build the broker service from parsed L{Options}."""
    from twisted.internet import reactor

    from kafkatwist.transport.service import BrokerService

    config: BrokerConfig = options["config"]
    _log_ignored_keys(config)
    service = BrokerService(
        config=config, endpoint=options["endpoint"], reactor=reactor, owns_process=True
    )
    service.ready.addCallback(log_started, service, options["properties"])
    service.ready.addCallbacks(_exit_at_once_after_stop, _exit_nonzero, callbackArgs=(reactor,))
    return service
