"""Tests for L{kafkatwist.container}: the properties file the image's entry point writes."""

from __future__ import annotations

import os
import stat
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.environment import VariableError
from kafkatwist.config.java_properties import parse_properties
from kafkatwist.container import LaunchError, main, prepare

DEFAULTS = """\
listeners=PLAINTEXT://0.0.0.0:9092
advertised.listeners=PLAINTEXT://localhost:9092
log.dirs=/var/lib/kafkatwist/data
"""


class PrepareTests(SynchronousTestCase):
    """L{prepare}: the image's defaults or the given file, under the C{KAFKA_*} variables."""

    def setUp(self) -> None:
        # Not self.mktemp(): under pytest it writes into the checkout.
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.directory = directory.name
        self.defaults = os.path.join(self.directory, "defaults.properties")
        with open(self.defaults, "w") as f:
            f.write(DEFAULTS)
        self.written = os.path.join(self.directory, "run", "server.properties")
        self.environ = {
            "KAFKATWIST_DEFAULT_PROPERTIES": self.defaults,
            "KAFKATWIST_PROPERTIES": self.written,
            "PATH": "/usr/bin",
        }

    def read_written(self) -> dict[str, str]:
        with open(self.written, encoding="utf-8") as f:
            return parse_properties(f.read())

    def test_defaults(self) -> None:
        """Without variables or a file, the written file is the defaults, and twistd gets it."""
        launch = prepare([], self.environ, "/venv/bin/twistd")
        self.assertEqual(self.read_written(), parse_properties(DEFAULTS))
        self.assertEqual(launch.source, self.defaults)
        self.assertEqual(launch.variables, ())
        self.assertEqual(
            launch.argv,
            ("/venv/bin/twistd", "--nodaemon", "--pidfile=", "kafkatwist", self.written),
        )

    def test_variables_win(self) -> None:
        """C{KAFKA_*} variables override the defaults; the launch names them, not their values."""
        environ = {
            **self.environ,
            "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://broker.example:29092",
            "KAFKA_NUM_PARTITIONS": "3",
            "KAFKA_HEAP_OPTS": "-Xmx1G",
        }
        launch = prepare(["--node-id", "7"], environ, "twistd")
        props = self.read_written()
        self.assertEqual(props["advertised.listeners"], "PLAINTEXT://broker.example:29092")
        self.assertEqual(props["listeners"], "PLAINTEXT://0.0.0.0:29092")
        self.assertEqual(props["num.partitions"], "3")
        self.assertEqual(props["log.dirs"], "/var/lib/kafkatwist/data")
        self.assertEqual(launch.variables, ("KAFKA_ADVERTISED_LISTENERS", "KAFKA_NUM_PARTITIONS"))
        self.assertEqual(launch.argv[-3:], (self.written, "--node-id", "7"))

    def test_file_argument(self) -> None:
        """A first argument not starting with C{-} is the file to start from, not the defaults."""
        mine = os.path.join(self.directory, "mine.properties")
        with open(mine, "w") as f:
            f.write("node.id=4\nlisteners=PLAINTEXT://:9999\n")
        environ = {**self.environ, "KAFKA_NODE_ID": "5"}
        launch = prepare([mine, "--override", "num.partitions=2"], environ, "twistd")
        self.assertEqual(self.read_written(), {"node.id": "5", "listeners": "PLAINTEXT://:9999"})
        self.assertEqual(launch.source, mine)
        self.assertEqual(launch.argv[-3:], (self.written, "--override", "num.partitions=2"))

    def test_private(self) -> None:
        """The written file is readable by its owner only: it may hold passwords."""
        environ = {**self.environ, "KAFKA_SSL_KEY_PASSWORD": "secret"}
        prepare([], environ, "twistd")
        self.assertEqual(stat.S_IMODE(os.stat(self.written).st_mode), 0o600)
        self.assertEqual(self.read_written()["ssl.key.password"], "secret")
        self.assertEqual(os.listdir(os.path.dirname(self.written)), ["server.properties"])

    def test_missing_file(self) -> None:
        """A file argument that cannot be read is a L{LaunchError} naming it."""
        e = self.assertRaises(LaunchError, prepare, ["/nonexistent.properties"], self.environ, "x")
        self.assertIn("/nonexistent.properties", str(e))

    def test_malformed_file(self) -> None:
        """A file Java could not load is a L{LaunchError} naming it."""
        with open(self.defaults, "w") as f:
            f.write("key=\\u12\n")
        e = self.assertRaises(LaunchError, prepare, [], self.environ, "x")
        self.assertIn(self.defaults, str(e))

    def test_bad_variable(self) -> None:
        """A C{KAFKA_*} name that stands for no property stops the launch."""
        environ = {**self.environ, "KAFKA_A____B": "1"}
        self.assertRaises(VariableError, prepare, [], environ, "x")

    def test_main_reports_one_line(self) -> None:
        """L{main} turns a bad variable into one line on stderr and exit status 1."""
        environ = {**self.environ, "KAFKA_A____B": "1"}
        e = self.assertRaises(SystemExit, main, [], environ)
        self.assertEqual(e.code, 1)
        self.assertFalse(os.path.exists(self.written))
