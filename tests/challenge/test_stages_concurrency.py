"""The course's Concurrent clients: serial and concurrent requests.

Each test runs one stage of the CodeCrafters "Build your own Kafka" course
against an in-process broker, with the requests and checks of the
independent tester port in the tests/challenge/tester package.
"""

from __future__ import annotations

import pytest_twisted

from tests.challenge.inprocess import run_stage


@pytest_twisted.ensureDeferred
async def test_nh4_serial_requests() -> None:
    """Stage nh4: Serial requests."""
    await run_stage("nh4")


@pytest_twisted.ensureDeferred
async def test_sk0_concurrent_requests() -> None:
    """Stage sk0: Concurrent requests."""
    await run_stage("sk0")
