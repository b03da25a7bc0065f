"""The course's Producing messages: Produce.

Each test runs one stage of the CodeCrafters "Build your own Kafka" course
against an in-process broker, with the requests and checks of the
independent tester port in the tests/challenge/tester package.
"""

from __future__ import annotations

import pytest_twisted

from tests.challenge.inprocess import run_stage


@pytest_twisted.ensureDeferred
async def test_um3_include_produce_in_apiversions() -> None:
    """Stage um3: Include Produce in APIVersions."""
    await run_stage("um3")


@pytest_twisted.ensureDeferred
async def test_ck2_respond_for_invalid_topic_or_partition() -> None:
    """Stage ck2: Respond for invalid topic or partition."""
    await run_stage("ck2")


@pytest_twisted.ensureDeferred
async def test_dp1_respond_for_valid_topic_and_partition() -> None:
    """Stage dp1: Respond for valid topic and partition."""
    await run_stage("dp1")


@pytest_twisted.ensureDeferred
async def test_ps7_produce_a_single_record() -> None:
    """Stage ps7: Produce a single record."""
    await run_stage("ps7")


@pytest_twisted.ensureDeferred
async def test_sb8_produce_multiple_records() -> None:
    """Stage sb8: Produce multiple records."""
    await run_stage("sb8")


@pytest_twisted.ensureDeferred
async def test_mf2_produce_to_multiple_partitions() -> None:
    """Stage mf2: Produce to multiple partitions."""
    await run_stage("mf2")


@pytest_twisted.ensureDeferred
async def test_ar4_produce_to_multiple_partitions_of_multiple_topics() -> None:
    """Stage ar4: Produce to multiple partitions of multiple topics."""
    await run_stage("ar4")
