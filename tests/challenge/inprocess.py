"""Run a course stage against an in-process broker listening on a loopback port 0.

The stage's setup writes the files exactly as the course's tester does
(server.properties, meta.properties, the metadata log and partition logs);
the broker is then started from that server.properties, with only its listen
address overridden, and the stage's requests and checks (from the independent
port in the ``tester`` package) run in a thread over real TCP.
"""

from __future__ import annotations

import os
import tempfile

from twisted.internet import reactor
from twisted.internet.threads import deferToThread

from kafkatwist.config.java_properties import parse_properties
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.transport.service import BrokerService
from tests.challenge.tester.context import StageContext
from tests.challenge.tester.kafka_files_generator import write_server_properties
from tests.challenge.tester.stages import STAGE_BY_SLUG, Stage


def stage(slug: str) -> Stage:
    """The stage with this slug."""
    return STAGE_BY_SLUG[slug]


async def run_stage(slug: str, seed: int = 1) -> None:
    """Set up, start a broker, run the stage's checks, stop the broker."""
    s = stage(slug)
    root = tempfile.mkdtemp(prefix=f"stage-{slug}-")
    log_dir = os.path.join(root, "kraft-combined-logs")
    properties = os.path.join(root, "server.properties")
    ctx = StageContext(log_dir=log_dir, seed=seed)
    write_server_properties(properties, log_dir, 9092, 9093)
    s.setup(ctx)
    with open(properties, encoding="utf-8") as f:
        config = BrokerConfig.from_properties(parse_properties(f.read()))
    service = BrokerService(config, "tcp:0:interface=127.0.0.1", reactor)
    service.startService()
    port = await service.ready
    try:
        ctx.restart_clock()
        await deferToThread(s.run, "127.0.0.1", port.getHost().port, ctx)
    finally:
        await service.stopService()
