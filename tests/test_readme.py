"""README's tables and names say what the code does (the API table, issue 16's sections)."""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY
from kafkatwist.config.broker_configs import BROKER_CONFIGS
from kafkatwist.config.environment import property_name
from kafkatwist.testing.faults import Faults

README = Path(__file__).resolve().parent.parent / "README.md"
#: One cell group of the table: C{| Name (key) | served | Kafka 4.3 |}.
_ROW = re.compile(r"\| (\w+) \((\d+)\) \| ([0-9-]+) \| ([0-9-]+) ")


def _span(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


class ReadmeTableTests(SynchronousTestCase):
    """The "What it implements" table of README.md."""

    def test_table_matches_the_registry(self) -> None:
        """Every registered API is in the table with its advertised versions, and nothing else."""
        text = README.read_text()
        section = text[text.index("## What it implements") : text.index("Not served (")]
        listed = {int(key): _span(served) for _, key, served, _ in _ROW.findall(section)}
        registered = {
            spec.api_key: (spec.advertised.lowest, spec.advertised.highest) for spec in REGISTRY
        }
        self.assertEqual(listed, registered)


def _section(text: str, title: str) -> str:
    """The text of the README section headed C{title}, up to the next section of its level."""
    start = text.index(title)
    level = title.split(" ")[0]
    end = text.find(f"\n{level} ", start + 1)
    return text[start : end if end >= 0 else len(text)]


class ReadmeIssue16Tests(SynchronousTestCase):
    """What the README says of the Docker variables, the faults and kafkatwist's own keys."""

    def setUp(self) -> None:
        self.text = README.read_text()

    def test_docker_variables(self) -> None:
        """Each row of the Docker variables table names the property the entry point sets."""
        section = _section(self.text, "## Docker")
        rows = re.findall(r"^\| `(KAFKA_\w+)` \| `([\w.-]+)`", section, re.M)
        self.assertGreaterEqual(len(rows), 8)
        self.assertEqual([(v, property_name(v)) for v, _ in rows], rows)

    def test_faults_methods(self) -> None:
        """Every C{Faults} method the README calls exists; every public one is in its table."""
        called = set(re.findall(r"faults\.(\w+)\(", self.text))
        section = _section(self.text, "## Fault injection")
        listed = set(re.findall(r"^\| `(\w+)\(", section, re.M))
        listed |= set(re.findall(r"`(\w+)\(\)`", section))
        public = {
            name
            for name, value in vars(Faults).items()
            if not name.startswith("_") and callable(value) and name not in ("received", "answered")
        }
        self.assertEqual(called - public, set())
        self.assertEqual(public - listed, set())

    def test_own_keys(self) -> None:
        """Every C{kafkatwist.*} key the README names is a broker config key."""
        named = set(re.findall(r"`(kafkatwist\.[a-z.]+[a-z])`", self.text))
        named = {
            key for key in named if not key.startswith(("kafkatwist.testing", "kafkatwist.hooks"))
        }
        self.assertIn("kafkatwist.trace.file", named)
        packages = {"kafkatwist.trace", "kafkatwist.metrics"}
        self.assertEqual(sorted(named - set(BROKER_CONFIGS) - packages), [])
