"""README's API table says what ApiVersions lists."""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY

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
