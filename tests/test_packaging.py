"""The distribution ships every package of the source tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

REPO = Path(__file__).resolve().parent.parent


class PackagingTests(SynchronousTestCase):
    """pyproject.toml against the tree."""

    def test_every_package_is_listed(self) -> None:
        """Every directory of kafkatwist/ with an __init__.py is in the explicit package list."""
        config = tomllib.loads((REPO / "pyproject.toml").read_text())
        listed = set(config["tool"]["setuptools"]["packages"])
        tree = {
            ".".join(path.parent.relative_to(REPO).parts)
            for path in (REPO / "kafkatwist").rglob("__init__.py")
        }
        self.assertEqual(tree - listed, set())
        self.assertEqual(listed - tree, {"twisted.plugins"})
