"""Tests for kafkatwist.transport.tap: twistd options and makeService."""

from __future__ import annotations

import io
import sys
import tempfile
import types
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.logger import ILogObserver, LogEvent, Logger, LogLevel
from twisted.python.filepath import FilePath
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.properties import BrokerConfig, Listener
from kafkatwist.transport.tap import Options, _log_ignored_keys, makeService


class OptionsTests(SynchronousTestCase):
    """Tests for L{Options}."""

    def temp_path(self) -> FilePath[str]:
        # Not self.mktemp(): under pytest that writes into the checkout.
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        return FilePath(directory.name).child("server.properties")

    def write_properties(self, text: str) -> str:
        path = self.temp_path()
        path.setContent(text.encode("utf-8"))
        return path.path

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_no_file(self) -> None:
        """Without a properties file, Kafka's defaults apply."""
        options = self.parse()
        self.assertEqual(options["config"], BrokerConfig())
        self.assertEqual(options["endpoint"], "tcp:9092:interface=0.0.0.0")

    def test_properties_file(self) -> None:
        """The positional path is read into C{options["config"]}."""
        path = self.write_properties("listeners=PLAINTEXT://127.0.0.1:19092\nnum.partitions=4\n")
        options = self.parse(path)
        self.assertEqual(options["config"].num_partitions, 4)
        self.assertEqual(options["endpoint"], "tcp:19092:interface=127.0.0.1")

    def test_latin1_file(self) -> None:
        """A file that is not UTF-8 is read as ISO-8859-1, as Java does."""
        path = self.temp_path()
        path.setContent("my.setting=caf\u00e9\n".encode("latin-1"))
        options = self.parse(path.path)
        self.assertEqual(options["config"].properties["my.setting"], "caf\u00e9")

    def test_missing_file(self) -> None:
        """A missing properties file is a UsageError naming the path."""
        path = self.temp_path().path
        error = self.assertRaises(UsageError, self.parse, path)
        self.assertIn(path, str(error))

    def test_unreadable_file(self) -> None:
        """A path that cannot be read (a directory) is a UsageError."""
        directory = self.temp_path().parent()
        self.assertRaises(UsageError, self.parse, directory.path)

    def test_too_many_arguments(self) -> None:
        """More than one positional argument is a UsageError."""
        self.assertRaises(UsageError, self.parse, "a.properties", "b.properties")

    def test_bad_value_names_key(self) -> None:
        """A malformed value is a UsageError naming the file and the key."""
        path = self.write_properties("log.retention.hours=a week\n")
        error = self.assertRaises(UsageError, self.parse, path)
        self.assertIn("log.retention.hours", str(error))
        self.assertIn(path, str(error))

    def test_cli_overrides_win(self) -> None:
        """--log-dirs, --node-id and --override win over the file."""
        path = self.write_properties("log.dirs=/file\nnode.id=1\nnum.partitions=2\n")
        options = self.parse(
            "--log-dirs=/a,/b", "--node-id=5", "--override", "num.partitions=9", path
        )
        config = options["config"]
        self.assertEqual(config.log_dirs, ("/a", "/b"))
        self.assertEqual(config.node_id, 5)
        self.assertEqual(config.num_partitions, 9)

    def test_node_id_replaces_broker_id(self) -> None:
        """--node-id wins over a broker.id in the file instead of conflicting with it."""
        path = self.write_properties("broker.id=3\n")
        self.assertEqual(self.parse("--node-id=4", path)["config"].node_id, 4)

    def test_bad_override_value(self) -> None:
        """A malformed --node-id is a UsageError naming node.id."""
        error = self.assertRaises(UsageError, self.parse, "--node-id=first")
        self.assertIn("node.id", str(error))

    def test_malformed_override(self) -> None:
        """--override without C{=} is a UsageError."""
        self.assertRaises(UsageError, self.parse, "--override", "num.partitions")

    def test_options_after_file(self) -> None:
        """Options may follow the properties file, as in Kafka's kafka-server-start.sh."""
        path = self.write_properties("node.id=3\nnum.partitions=2\n")
        options = self.parse(
            path, "--override", "num.partitions=5", "--node-id=4", "--listen", "tcp:0"
        )
        self.assertEqual(options["properties"], path)
        self.assertEqual(options["config"].num_partitions, 5)
        self.assertEqual(options["config"].node_id, 4)
        self.assertEqual(options["endpoint"], "tcp:0")
        both = self.parse("--override=num.partitions=6", path, "--node-id", "7")
        self.assertEqual((both["config"].num_partitions, both["config"].node_id), (6, 7))

    def test_dash_dash_ends_options(self) -> None:
        """After C{--}, a word that looks like an option is the properties path."""
        error = self.assertRaises(UsageError, self.parse, "--", "--node-id=1")
        self.assertIn("--node-id=1", str(error))

    def test_unknown_option_after_file(self) -> None:
        """An unknown option after the file is a UsageError naming it."""
        path = self.write_properties("")
        error = self.assertRaises(UsageError, self.parse, path, "--bogus")
        self.assertIn("bogus", str(error))

    def test_unservable_listener(self) -> None:
        """
        A listener that cannot be served (SSL without a key store, SASL_SSL with only
        GSSAPI) is a UsageError naming it.
        """
        for listeners, needle in [
            ("SSL://:9093", "listener SSL: an SSL listener needs a key store"),
            ("PLAINTEXT://:9092,SASL_SSL://:9094", "listener SASL_SSL enables SASL mechanisms"),
        ]:
            path = self.write_properties(f"listeners={listeners}\n")
            error = self.assertRaises(UsageError, self.parse, path)
            self.assertIn(needle, str(error))

    def test_sasl_listener_without_served_mechanism(self) -> None:
        """A SASL_PLAINTEXT listener left with Kafka's default GSSAPI only is a UsageError."""
        path = self.write_properties("listeners=PLAINTEXT://:9092,SASL_PLAINTEXT://:9094\n")
        error = self.assertRaises(UsageError, self.parse, path)
        self.assertIn("listener SASL_PLAINTEXT enables SASL mechanisms GSSAPI", str(error))

    def test_sasl_listener_with_plain(self) -> None:
        """A SASL_PLAINTEXT listener with PLAIN and its JAAS users is accepted."""
        path = self.write_properties(
            "listeners=SASL_PLAINTEXT://:9094\n"
            "sasl.enabled.mechanisms=PLAIN\n"
            "listener.name.sasl_plaintext.plain.sasl.jaas.config="
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            'user_alice="alice-secret";\n'
        )
        options = self.parse(path)
        self.assertEqual(options["config"].serving_listener().name, "SASL_PLAINTEXT")

    def test_one_line_under_twistd(self) -> None:
        """Run as twistd's subcommand, a usage error is one stderr line and exit status 1."""
        stderr = io.StringIO()
        self.patch(sys, "__stderr__", stderr)
        options = Options()
        options.parent = Options()
        error = self.assertRaises(SystemExit, options.parseOptions, ["--node-id=first"])
        self.assertEqual(error.code, 1)
        [line] = stderr.getvalue().splitlines()
        self.assertTrue(line.startswith("kafkatwist: "), line)
        self.assertIn("node.id", line)

    def test_listen(self) -> None:
        """--listen replaces the endpoint, and the bound port is advertised."""
        path = self.write_properties(
            "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n"
        )
        options = self.parse("--listen=tcp:0:interface=127.0.0.1", path)
        self.assertEqual(options["endpoint"], "tcp:0:interface=127.0.0.1")
        self.assertEqual(options["config"].advertised_address(), (None, 0))

    def test_listen_keeps_explicit_advertised(self) -> None:
        """--listen leaves an explicit advertised.listeners alone."""
        path = self.write_properties("advertised.listeners=PLAINTEXT://public:9092\n")
        options = self.parse("--listen=tcp:19092", path)
        self.assertEqual(
            options["config"].advertised_listeners, (Listener("PLAINTEXT", "public", 9092),)
        )

    def test_bad_listen(self) -> None:
        """An endpoint string Twisted cannot parse is a UsageError."""
        for description in ("bogus:1", "tcp:notaport", "tcp"):
            self.assertRaises(UsageError, self.parse, f"--listen={description}")

    def test_help(self) -> None:
        """The usage text documents the options and the positional file."""
        text = str(Options())
        for word in ("--listen", "--log-dirs", "--node-id", "--override", "server.properties"):
            self.assertIn(word, text)


class LogIgnoredKeysTests(SynchronousTestCase):
    """Tests for L{_log_ignored_keys}."""

    def test_logs_each_kind_once(self) -> None:
        """Unused Kafka keys are logged at info and unknown keys at warn, one event each."""
        events: list[LogEvent] = []
        config = BrokerConfig.from_properties(
            {"background.threads": "10", "num.network.threads": "3", "typo.setting": "1"}
        )
        _log_ignored_keys(config, Logger(observer=cast(ILogObserver, events.append)))
        self.assertEqual(
            [(event["log_level"], event["keys"]) for event in events],
            [
                (LogLevel.info, "background.threads, num.network.threads"),
                (LogLevel.warn, "typo.setting"),
            ],
        )

    def test_quiet_when_all_used(self) -> None:
        """Nothing is logged when every key is used."""
        events: list[LogEvent] = []
        _log_ignored_keys(BrokerConfig(), Logger(observer=cast(ILogObserver, events.append)))
        self.assertEqual(events, [])


class MakeServiceTests(SynchronousTestCase):
    """Tests for L{makeService}, against a stand-in C{kafkatwist.transport.service}."""

    def test_builds_broker_service(self) -> None:
        """makeService passes the config, the endpoint and the global reactor to BrokerService."""
        calls: list[dict[str, Any]] = []

        class BrokerService:
            def __init__(self, **kwargs: Any) -> None:
                calls.append(kwargs)
                self.ready: Deferred[object] = Deferred()

        stand_in = types.ModuleType("kafkatwist.transport.service")
        stand_in.BrokerService = BrokerService  # type: ignore[attr-defined]
        previous = sys.modules.get("kafkatwist.transport.service")
        sys.modules["kafkatwist.transport.service"] = stand_in
        if previous is None:
            self.addCleanup(sys.modules.pop, "kafkatwist.transport.service", None)
        else:
            self.addCleanup(sys.modules.__setitem__, "kafkatwist.transport.service", previous)

        options = Options()
        options.parseOptions(["--listen=tcp:0:interface=127.0.0.1"])
        service = makeService(options)

        from twisted.internet import reactor

        self.assertIsInstance(service, BrokerService)
        self.assertEqual(
            calls,
            [
                {
                    "config": options["config"],
                    "endpoint": "tcp:0:interface=127.0.0.1",
                    "reactor": reactor,
                    "owns_process": True,
                }
            ],
        )
