"""Tests for the kafkatwist command (kafkatwist.cli) and C{python -m kafkatwist}."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.cli import CommandOptions, main, server_options
from kafkatwist.transport import tap
from kafkatwist.transport.banner import version_line

REPO = Path(__file__).resolve().parent.parent


class VersionTests(SynchronousTestCase):
    """C{--version} prints kafkatwist's version, under twistd and as the command."""

    def stdout(self) -> io.StringIO:
        """Capture what is printed."""
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        return out

    def test_tap_option(self) -> None:
        """C{twistd kafkatwist --version}: the plugin's options print the version line, exit 0."""
        out = self.stdout()
        error = self.assertRaises(SystemExit, tap.Options().parseOptions, ["--version"])
        self.assertEqual(error.code, 0)
        self.assertEqual(out.getvalue(), version_line() + "\n")

    def test_main(self) -> None:
        """C{kafkatwist --version} runs twistd's runner, which stops at the version line."""
        out = self.stdout()
        self.patch(sys, "argv", ["kafkatwist"])
        error = self.assertRaises(SystemExit, main, ["--version"])
        self.assertEqual(error.code, 0)
        self.assertEqual(out.getvalue(), version_line() + "\n")
        self.assertEqual(
            sys.argv, ["kafkatwist", "--nodaemon", "--pidfile=", "kafkatwist", "--version"]
        )

    def test_python_m(self) -> None:
        """C{python -m kafkatwist --version} prints the version line and exits 0."""
        env = dict(os.environ, PYTHONPATH=str(REPO))
        done = subprocess.run(
            [sys.executable, "-m", "kafkatwist", "--version"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        self.assertEqual(
            (done.returncode, done.stdout, done.stderr), (0, version_line() + "\n", "")
        )


class CommandTests(SynchronousTestCase):
    """twistd's options as the command sets them up."""

    def test_only_subcommand(self) -> None:
        """The command's twistd knows kafkatwist alone, without scanning for plugins."""
        options = server_options("kafkatwist")()
        [(name, short, make, description)] = list(options.subCommands)
        self.assertEqual((name, short), ("kafkatwist", None))
        self.assertIsInstance(make(), CommandOptions)
        self.assertEqual(list(options.loadedPlugins), ["kafkatwist"])
        [plugin] = [m for m in getPlugins(IServiceMaker) if m.tapname == "kafkatwist"]
        self.assertEqual(description, plugin.description)

    def test_usage_names_the_command(self) -> None:
        """C{--help} shows the command as it was run, the broker's options, and twistd's way."""
        text = str(CommandOptions("python -m kafkatwist"))
        self.assertTrue(
            text.startswith(
                "Usage: python -m kafkatwist [options] [path/to/server.properties] [options]\n"
            ),
            text,
        )
        for word in ("--listen", "--log-dirs", "--node-id", "--override", "--version", "twistd"):
            self.assertIn(word, text)

    def test_parses_like_the_plugin(self) -> None:
        """The command's options are the plugin's: the same config from the same arguments."""
        options = CommandOptions()
        options.parseOptions(["--node-id=4", "--listen=tcp:0:interface=127.0.0.1"])
        plugin = tap.Options()
        plugin.parseOptions(["--node-id=4", "--listen=tcp:0:interface=127.0.0.1"])
        self.assertEqual(options["config"], plugin["config"])
        self.assertEqual(options["endpoint"], plugin["endpoint"])
