"""
The C{kafkatwist} command and C{python -m kafkatwist}: the broker in the foreground.

C{kafkatwist [options] [server.properties] [options]} is
C{twistd --nodaemon --pidfile= kafkatwist ...} (what C{your_program.sh}
runs), with twistd's runner in this process. The command knows its only
subcommand: it never scans C{twisted.plugins} for plugins, so it neither
reads nor writes Twisted's C{dropin.cache} (an installed package's plugin
directory may be read-only, or its cache stale). C{twistd kafkatwist} still
finds the plugin (C{twisted/plugins/kafkatwist_plugin.py}) where the package
is installed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence

from twisted.application import app
from twisted.application.service import IServiceMaker, Service
from twisted.scripts._twistd_unix import ServerOptions
from twisted.scripts.twistd import runApp
from zope.interface import implementer  # type: ignore[import-untyped]

from kafkatwist.transport import tap

#: The name twistd knows the plugin by (twisted/plugins/kafkatwist_plugin.py).
TAPNAME = "kafkatwist"
DESCRIPTION = "Kafka-compatible broker"


class CommandOptions(tap.Options):
    """The broker's options as the C{kafkatwist} command documents them."""

    longdesc = (
        tap.Options.longdesc
        + " twistd's own options (--logfile, --reactor, --syslog, ...) are there when it "
        "is run as: twistd --nodaemon --pidfile= kafkatwist [options]."
    )

    def __init__(self, prog: str = TAPNAME) -> None:
        super().__init__()
        self._prog = prog

    def getSynopsis(self) -> str:
        """C{Usage: kafkatwist [options] ...}, not twistd's C{twistd [options] kafkatwist}."""
        return f"Usage: {self._prog} {self.synopsis}"


@implementer(IServiceMaker)
class _Maker:
    """The kafkatwist plugin's service maker, given to twistd directly."""

    tapname = TAPNAME
    description = DESCRIPTION

    def __init__(self, prog: str) -> None:
        self._prog = prog

    def options(self) -> CommandOptions:
        """The options the subcommand parses."""
        return CommandOptions(self._prog)

    def makeService(self, options: tap.Options) -> Service:
        """The broker service (L{tap.makeService})."""
        return tap.makeService(options)


def server_options(prog: str) -> Callable[[], ServerOptions]:
    """twistd's options (POSIX: kafkatwist runs there) with kafkatwist as the only subcommand."""
    maker = _Maker(prog)

    class CommandServerOptions(ServerOptions):  # type: ignore[misc, unused-ignore]
        # twistd asks for the IServiceMaker plugins alone (its subcommands): this
        # answers with kafkatwist's, where twisted.plugin.getPlugins would scan
        # every plugin directory and read (and maybe write) its dropin.cache.
        @staticmethod
        def _getPlugins(  # type: ignore[override]
            interface: object, package: object = None
        ) -> Iterable[_Maker]:
            return [maker]

    return CommandServerOptions


def main(argv: Sequence[str] | None = None, prog: str = TAPNAME) -> None:
    """
    Run the broker as C{twistd --nodaemon --pidfile= kafkatwist ARGV...} would.

    @param argv: The arguments after the command name (default: C{sys.argv[1:]}).
    @param prog: The command's name in the usage text.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    sys.argv = [prog, "--nodaemon", "--pidfile=", TAPNAME, *args]
    app.run(runApp, server_options(prog))  # type: ignore[no-untyped-call, unused-ignore]
