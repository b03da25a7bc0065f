"""The course's Listing partitions: DescribeTopicPartitions.

Each test runs one stage of the CodeCrafters "Build your own Kafka" course
against an in-process broker, with the requests and checks of the
independent tester port in the tests/challenge/tester package.
"""

from __future__ import annotations

import pytest_twisted

from tests.challenge.inprocess import run_stage


@pytest_twisted.ensureDeferred
async def test_yk1_include_describetopicpartitions_in_apiversions() -> None:
    """Stage yk1: Include DescribeTopicPartitions in APIVersions."""
    await run_stage("yk1")


@pytest_twisted.ensureDeferred
async def test_vt6_list_for_an_unknown_topic() -> None:
    """Stage vt6: List for an unknown topic."""
    await run_stage("vt6")


@pytest_twisted.ensureDeferred
async def test_ea7_list_for_a_single_partition() -> None:
    """Stage ea7: List for a single partition."""
    await run_stage("ea7")


@pytest_twisted.ensureDeferred
async def test_ku4_list_for_multiple_partitions() -> None:
    """Stage ku4: List for multiple partitions."""
    await run_stage("ku4")


@pytest_twisted.ensureDeferred
async def test_wq2_list_for_multiple_topics() -> None:
    """Stage wq2: List for multiple topics."""
    await run_stage("wq2")
