"""kafkajs (Node.js) with SCRAM-SHA-512 over SASL_PLAINTEXT, and its view of a wrong password."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest_twisted
from confluent_kafka.admin._scram import ScramMechanism

from tests.integration.harness import (
    RunningBroker,
    in_thread,
    require_executable,
    run_process,
    running_broker,
)
from tests.integration.test_sasl_clients import create_scram_user, sasl_properties

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
SCRIPT = os.path.join(NODE_DIR, "kafkajs_sasl.js")


async def run_kafkajs(running: RunningBroker, topic: str, user: str, password: str) -> Any:
    node = require_executable("node", "install Node.js (Debian package nodejs)")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "kafkajs")):
        raise AssertionError(f"kafkajs is not installed: run `npm ci` in {NODE_DIR} (test.sh does)")
    env = dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1")
    result = await run_process(
        [node, SCRIPT, running.bootstrap, topic, "SCRAM-SHA-512", user, password],
        env=env,
        cwd=NODE_DIR,
        timeout=40,
    )
    result.check()
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


@pytest_twisted.ensureDeferred
async def test_kafkajs_scram_sha_512(tmp_path: Any) -> None:
    """
    kafkajs authenticates with SCRAM-SHA-512, creates, produces; a wrong password is its SASL error.
    """
    async with running_broker(str(tmp_path / "logs"), sasl_properties()) as running:
        await in_thread(
            create_scram_user, running.bootstrap, "js", "js-secret", ScramMechanism.SCRAM_SHA_512
        )
        ok = await run_kafkajs(running, "js-topic", "js", "js-secret")
        refused = await run_kafkajs(running, "js-topic", "js", "wrong")
    assert ok == {"produced": 1, "end": 5}, ok
    assert refused["error"] == "KafkaJSSASLAuthenticationError", refused
    assert (
        "Authentication failed during authentication due to invalid credentials with SASL "
        "mechanism SCRAM-SHA-512" in refused["message"]
    ), refused
