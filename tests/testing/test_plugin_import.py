"""The pytest plugin is cheap to import: every pytest run with kafkatwist installed loads it."""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: What the plugin may import of kafkatwist before a fixture is used.
LIGHT = {"kafkatwist", "kafkatwist.testing", "kafkatwist.testing.forkserver"}


class PluginImportTests(SynchronousTestCase):
    """Importing L{kafkatwist.testing.plugin} imports no broker and no reactor."""

    def test_light_import(self) -> None:
        """The plugin module imports only the fork server's module of kafkatwist, and no reactor."""
        code = (
            "import sys, kafkatwist.testing.plugin\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('kafkatwist'))))\n"
            "print('twisted.internet.reactor' in sys.modules)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=dict(os.environ, PYTHONPATH=ROOT),
            capture_output=True,
            check=True,
            text=True,
        ).stdout.split("\n")
        self.assertEqual(set(out[0].split()) - {"kafkatwist.testing.plugin"}, LIGHT)
        self.assertEqual(out[1], "False")
