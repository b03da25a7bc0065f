"""kafkajs (Node.js) with SCRAM-SHA-512 over SASL_PLAINTEXT, and its view of a wrong password."""

from __future__ import annotations

from typing import Any

import pytest_twisted
from confluent_kafka.admin._scram import ScramMechanism

from tests.integration.harness import (
    RunningBroker,
    in_thread,
    run_kafkajs,
    running_broker,
)
from tests.integration.test_sasl_clients import create_scram_user, sasl_properties


async def run_scram(running: RunningBroker, topic: str, user: str, password: str) -> Any:
    """kafkajs_sasl.js as C{user} (SCRAM-SHA-512): what it did, or the error it got."""
    args = [running.bootstrap, topic, "SCRAM-SHA-512", user, password]
    return await run_kafkajs("kafkajs_sasl.js", args)


@pytest_twisted.ensureDeferred
async def test_kafkajs_scram_sha_512(tmp_path: Any) -> None:
    """
    kafkajs authenticates with SCRAM-SHA-512, creates, produces; a wrong password is its SASL error.
    """
    async with running_broker(str(tmp_path / "logs"), sasl_properties()) as running:
        await in_thread(
            create_scram_user, running.bootstrap, "js", "js-secret", ScramMechanism.SCRAM_SHA_512
        )
        ok = await run_scram(running, "js-topic", "js", "js-secret")
        refused = await run_scram(running, "js-topic", "js", "wrong")
    assert ok == {"produced": 1, "end": 5}, ok
    assert refused["error"] == "KafkaJSSASLAuthenticationError", refused
    assert (
        "Authentication failed during authentication due to invalid credentials with SASL "
        "mechanism SCRAM-SHA-512" in refused["message"]
    ), refused
