"""Tests for L{kafkatwist.config.environment}: KAFKA_* variables read as apache/kafka does."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.environment import (
    EXCLUDED,
    VariableError,
    environment_properties,
    property_name,
)
from kafkatwist.config.java_properties import format_properties, parse_properties


class PropertyNameTests(SynchronousTestCase):
    """L{property_name}: C{_} is C{.}, C{__} C{_}, C{___} C{-}; lowercased, C{KAFKA_} dropped."""

    def test_single_underscores_are_dots(self) -> None:
        """C{KAFKA_ADVERTISED_LISTENERS} is C{advertised.listeners}."""
        self.assertEqual(property_name("KAFKA_ADVERTISED_LISTENERS"), "advertised.listeners")
        self.assertEqual(property_name("KAFKA_LOG_RETENTION_MS"), "log.retention.ms")
        self.assertEqual(property_name("KAFKA_NODE_ID"), "node.id")

    def test_double_and_triple_underscores(self) -> None:
        """C{__} is an underscore and C{___} a dash, as in Kafka's examples."""
        self.assertEqual(property_name("KAFKA_ABC__DEF"), "abc_def")
        self.assertEqual(property_name("KAFKA_ABC___DEF"), "abc-def")
        self.assertEqual(property_name("KAFKA_A_B__C___D"), "a.b_c-d")

    def test_single_letter_segments(self) -> None:
        """Every single underscore is a dot, even between one-letter words."""
        self.assertEqual(property_name("KAFKA_A_B_C"), "a.b.c")

    def test_kafkatwist_properties(self) -> None:
        """kafkatwist's own properties take the same prefix: C{KAFKA_KAFKATWIST_...}."""
        self.assertEqual(
            property_name("KAFKA_KAFKATWIST_METRICS_LISTENER"), "kafkatwist.metrics.listener"
        )

    def test_other_variables(self) -> None:
        """Variables without the C{KAFKA_} prefix, and the bare prefix, set nothing."""
        for name in ("PATH", "CLUSTER_ID", "KAFKATWIST_PROPERTIES", "KAFKA", "KAFKA_", "kafka_x"):
            self.assertIsNone(property_name(name), name)

    def test_excluded(self) -> None:
        """The start scripts' variables (apache/kafka's exclude list) set nothing."""
        for name in ("KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_VERSION", "KAFKA_JMX_OPTS"):
            self.assertIn(name, EXCLUDED)
            self.assertIsNone(property_name(name), name)

    def test_four_underscores(self) -> None:
        """A run of four underscores (undefined in Kafka) is refused, naming the variable."""
        e = self.assertRaises(VariableError, property_name, "KAFKA_A____B")
        self.assertIn("KAFKA_A____B", str(e))

    def test_leading_or_trailing_underscore(self) -> None:
        """A name that would start or end with C{.}, C{_} or C{-} is refused."""
        self.assertRaises(VariableError, property_name, "KAFKA__NODE_ID")
        self.assertRaises(VariableError, property_name, "KAFKA_NODE_ID_")


class EnvironmentPropertiesTests(SynchronousTestCase):
    """L{environment_properties}: the properties of a whole environment."""

    def test_properties(self) -> None:
        """Each C{KAFKA_*} variable sets its property; the rest are ignored."""
        environ = {
            "KAFKA_NODE_ID": "3",
            "KAFKA_LOG_DIRS": "/data",
            "KAFKA_HEAP_OPTS": "-Xmx1G",
            "HOME": "/root",
        }
        self.assertEqual(environment_properties(environ), {"log.dirs": "/data", "node.id": "3"})

    def test_listeners_from_advertised_listeners(self) -> None:
        """Without C{KAFKA_LISTENERS}, the advertised listeners' ports are bound on C{0.0.0.0}."""
        props = environment_properties(
            {"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://localhost:29092, SSL://[::1]:29093"}
        )
        self.assertEqual(props["listeners"], "PLAINTEXT://0.0.0.0:29092,SSL://0.0.0.0:29093")

    def test_listeners_given(self) -> None:
        """C{KAFKA_LISTENERS} is used as given when set."""
        props = environment_properties(
            {
                "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://localhost:29092",
                "KAFKA_LISTENERS": "PLAINTEXT://:9092",
            }
        )
        self.assertEqual(props["listeners"], "PLAINTEXT://:9092")

    def test_controller_only(self) -> None:
        """A controller-only node gets no listeners from the advertised ones."""
        props = environment_properties(
            {"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://h:1", "KAFKA_PROCESS_ROLES": "controller"}
        )
        self.assertNotIn("listeners", props)

    def test_malformed_advertised_listener(self) -> None:
        """An advertised listener not C{NAME://host:port} is copied, for the broker to refuse."""
        props = environment_properties({"KAFKA_ADVERTISED_LISTENERS": "nonsense"})
        self.assertEqual(props["listeners"], "nonsense")

    def test_same_property_twice(self) -> None:
        """Two variables naming one property (they differ in case) are refused."""
        e = self.assertRaises(
            VariableError,
            environment_properties,
            {"KAFKA_NODE_ID": "1", "KAFKA_Node_Id": "2"},
        )
        self.assertIn("node.id", str(e))


class FormatPropertiesTests(SynchronousTestCase):
    """L{format_properties} writes what L{parse_properties} reads back unchanged."""

    def test_plain(self) -> None:
        """Plain keys and values are C{key=value} lines."""
        self.assertEqual(
            format_properties([("node.id", "1"), ("listeners", "PLAINTEXT://:9092")]),
            "node.id=1\nlisteners=PLAINTEXT://:9092\n",
        )

    def test_round_trip(self) -> None:
        """Separators, comment marks, escapes, line breaks, spaces and non-ASCII survive."""
        properties = {
            "sasl.jaas.config": 'mod required username="a b" password="x=y:z\\\\";',
            "odd key=:#!": " leading space, trailing tab\t",
            "#comment.like": "!value",
            "multi.line": "one\ntwo\r\nthree\f",
            "unicode": "Grüße ✓",
            "empty": "",
        }
        self.assertEqual(parse_properties(format_properties(properties.items())), properties)
