"""
kafka-clients 4.3 (Java) over SASL_PLAINTEXT: SCRAM-SHA-256 with KIP-368 re-authentication, a wrong
password.
"""

from __future__ import annotations

from typing import Any

import pytest_twisted
from confluent_kafka.admin._scram import ScramMechanism

from tests.integration.harness import in_thread, run_java, running_broker
from tests.integration.test_sasl_clients import create_scram_user, sasl_properties


@pytest_twisted.ensureDeferred
async def test_java_reauthenticates_and_sees_refusals(tmp_path: Any) -> None:
    """
    With connections.max.reauth.ms=1500 the Java producer re-authenticates (SCRAM-SHA-256) and
    keeps sending; a wrong PLAIN password is its SaslAuthenticationException with Kafka's message.
    """
    props = sasl_properties()
    props["connections.max.reauth.ms"] = "1500"
    classes = str(tmp_path / "classes")
    async with running_broker(str(tmp_path / "logs"), props) as running:
        await in_thread(
            create_scram_user, running.bootstrap, "jim", "jim-secret", ScramMechanism.SCRAM_SHA_256
        )
        args = [running.bootstrap, "SCRAM-SHA-256", "jim", "jim-secret", "produce", "5"]
        produced = await run_java("SaslClient", args, classes, timeout=90)
        args = [running.bootstrap, "PLAIN", "alice", "wrong", "wrong"]
        refused = await run_java("SaslClient", args, classes, timeout=60)
    sent = int(produced[-2].split()[1])
    assert produced[-2].startswith("SENT ") and sent >= 15, produced
    assert produced[-1].startswith("REAUTHENTICATIONS ") and int(produced[-1].split()[1]) >= 2, (
        produced
    )
    assert refused[-1] == (
        "ERROR SaslAuthenticationException Authentication failed: Invalid username or password"
    ), refused
