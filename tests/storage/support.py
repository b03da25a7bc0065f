"""Shared helpers for the storage tests."""

from __future__ import annotations

import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase


def temp_dir(case: SynchronousTestCase) -> str:
    """A fresh directory removed after the test."""
    path = tempfile.mkdtemp(prefix="kafkatwist-storage-")
    case.addCleanup(shutil.rmtree, path, True)
    return path
