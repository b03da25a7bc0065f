"""The course's Base stages: binding, correlation ids, ApiVersions.

Each test runs one stage of the CodeCrafters "Build your own Kafka" course
against an in-process broker, with the requests and checks of the
independent tester port in the tests/challenge/tester package.
"""

from __future__ import annotations

import pytest_twisted

from tests.challenge.inprocess import run_stage


@pytest_twisted.ensureDeferred
async def test_vi6_bind_to_a_port() -> None:
    """Stage vi6: Bind to a port."""
    await run_stage("vi6")


@pytest_twisted.ensureDeferred
async def test_nv3_send_correlation_id() -> None:
    """Stage nv3: Send Correlation ID."""
    await run_stage("nv3")


@pytest_twisted.ensureDeferred
async def test_wa6_parse_correlation_id() -> None:
    """Stage wa6: Parse Correlation ID."""
    await run_stage("wa6")


@pytest_twisted.ensureDeferred
async def test_nc5_parse_api_version() -> None:
    """Stage nc5: Parse API Version."""
    await run_stage("nc5")


@pytest_twisted.ensureDeferred
async def test_pv1_handle_apiversions_requests() -> None:
    """Stage pv1: Handle APIVersions requests."""
    await run_stage("pv1")
