"""Tests for the twistd plugin in twisted/plugins/kafkatwist_plugin.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase

REPO = Path(__file__).resolve().parent.parent


class PluginTests(SynchronousTestCase):
    """Tests for the C{kafkatwist} IServiceMaker plugin."""

    def test_discovered(self) -> None:
        """getPlugins(IServiceMaker) yields exactly one maker with tapname kafkatwist."""
        makers = [m for m in getPlugins(IServiceMaker) if m.tapname == "kafkatwist"]
        self.assertEqual(len(makers), 1)
        self.assertEqual(makers[0].description, "Kafka-compatible broker")
        from kafkatwist.transport import tap

        self.assertIs(makers[0].options, tap.Options)

    def test_no_init_under_twisted(self) -> None:
        """No __init__.py exists under twisted/, which would shadow the real Twisted package."""
        found = [str(path) for path in (REPO / "twisted").rglob("__init__.py")]
        self.assertEqual(found, [])

    def test_import_is_cheap(self) -> None:
        """Importing the plugin module does not import kafkatwist itself."""
        code = (
            "import sys, twisted.plugins.kafkatwist_plugin; "
            "print(sorted(m for m in sys.modules if m.startswith('kafkatwist')))"
        )
        env = dict(os.environ, PYTHONPATH=str(REPO))
        output = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
        self.assertEqual(output.strip(), "[]")
