"""The course's Consuming messages: Fetch.

Each test runs one stage of the CodeCrafters "Build your own Kafka" course
against an in-process broker, with the requests and checks of the
independent tester port in the tests/challenge/tester package.
"""

from __future__ import annotations

import pytest_twisted

from tests.challenge.inprocess import run_stage


@pytest_twisted.ensureDeferred
async def test_gs0_include_fetch_in_apiversions() -> None:
    """Stage gs0: Include Fetch in APIVersions."""
    await run_stage("gs0")


@pytest_twisted.ensureDeferred
async def test_dh6_fetch_with_no_topics() -> None:
    """Stage dh6: Fetch with no topics."""
    await run_stage("dh6")


@pytest_twisted.ensureDeferred
async def test_hn6_fetch_with_an_unknown_topic() -> None:
    """Stage hn6: Fetch with an unknown topic."""
    await run_stage("hn6")


@pytest_twisted.ensureDeferred
async def test_cm4_fetch_with_an_empty_topic() -> None:
    """Stage cm4: Fetch with an empty topic."""
    await run_stage("cm4")


@pytest_twisted.ensureDeferred
async def test_eg2_fetch_single_message_from_disk() -> None:
    """Stage eg2: Fetch single message from disk."""
    await run_stage("eg2")


@pytest_twisted.ensureDeferred
async def test_fd8_fetch_multiple_messages_from_disk() -> None:
    """Stage fd8: Fetch multiple messages from disk."""
    await run_stage("fd8")
