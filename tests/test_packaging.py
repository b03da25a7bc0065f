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


#: The classifiers a user filters PyPI by (the issue's list; License is the expression's job).
CLASSIFIERS = {
    "Programming Language :: Python :: 3 :: Only",
    "Programming Language :: Python :: 3.11",
    "Framework :: Twisted",
    "Framework :: Pytest",
    "Topic :: System :: Networking",
}


class MetadataTests(SynchronousTestCase):
    """The project metadata a user of the package sees."""

    def setUp(self) -> None:
        self.project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def test_console_script(self) -> None:
        """C{kafkatwist} is a console script running L{kafkatwist.cli.main}."""
        self.assertEqual(self.project["scripts"], {"kafkatwist": "kafkatwist.cli:main"})

    def test_license(self) -> None:
        """The license is Apache-2.0, as Kafka's, and its text ships in the distribution."""
        self.assertEqual(self.project["license"], "Apache-2.0")
        self.assertEqual(self.project["license-files"], ["LICENSE"])
        text = (REPO / "LICENSE").read_text()
        self.assertIn("Apache License", text)
        self.assertIn("Version 2.0, January 2004", text)

    def test_authors_keywords_classifiers(self) -> None:
        """Authors, keywords and the classifiers users search by are there."""
        self.assertEqual(self.project["authors"], [{"name": "kafkatwist developers"}])
        self.assertIn("kafka", self.project["keywords"])
        self.assertEqual(CLASSIFIERS - set(self.project["classifiers"]), set())
        # setuptools refuses License classifiers next to a license expression.
        self.assertEqual([c for c in self.project["classifiers"] if c.startswith("License")], [])

    def test_dependency_lower_bounds(self) -> None:
        """Every runtime dependency has a lower bound and no upper one."""
        for requirement in self.project["dependencies"]:
            name, separator, version = requirement.partition(">=")
            self.assertTrue(separator and name.strip() and version.strip(), requirement)
            self.assertNotIn("<", version, requirement)
            self.assertNotIn(",", version, requirement)


class CodeCraftersTests(SynchronousTestCase):
    """codecrafters.yml, which the CodeCrafters tester needs at the top level."""

    def settings(self) -> dict[str, str]:
        """The file's C{key: value} lines (the platform's YAML is that flat)."""
        out = {}
        for line in (REPO / "codecrafters.yml").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition(":")
                out[key.strip()] = value.strip()
        return out

    def test_settings(self) -> None:
        """Debug logs off, and a Python the package supports."""
        settings = self.settings()
        self.assertEqual(set(settings), {"debug", "buildpack"})
        self.assertEqual(settings["debug"], "false")
        language, _, version = settings["buildpack"].partition("-")
        self.assertEqual(language, "python")
        major, minor = (int(part) for part in version.split("."))
        self.assertGreaterEqual((major, minor), (3, 11))
