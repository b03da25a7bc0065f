"""A broker for handler tests: real metadata store in a temp dir, memory logs, a Clock."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.broker import Broker, build_broker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.storage.interfaces import ILogManager
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.storage.memory import MemoryLogManager
from kafkatwist.wire.header import RequestHeader

#: One directory per test process for the brokers' log dirs, removed at exit.
_ROOT = tempfile.mkdtemp(prefix="kafkatwist-tests-")
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


def make_broker(
    log_dir: str | None = None,
    config: BrokerConfig | None = None,
    clock: Clock | None = None,
    logs: ILogManager | None = None,
) -> Broker:
    """
    A loaded broker with no topics, memory logs and a C{Clock}.

    Built by L{build_broker}, as the service builds its broker; its group
    coordinator is not started.

    @param logs: The log manager, memory logs by default (a "restarted"
        broker passes the one it restarts over).
    """
    if log_dir is None:
        log_dir = tempfile.mkdtemp(prefix="broker-", dir=_ROOT)
    clock = clock or Clock()
    clock.advance(1_700_000_000)  # a realistic wall-clock time, in seconds
    config = config or BrokerConfig()
    metadata = KRaftMetadataStore(log_dir, clock=clock)
    metadata.load()
    if logs is None:
        logs = cast(ILogManager, MemoryLogManager())
    broker = build_broker(
        config,
        clock,
        metadata,
        logs,
        ConfigResolver(config, metadata),
        cluster_id="test-cluster",
    )
    broker.advertised_port = 9092
    return broker


def context(
    broker: Broker, spec: ApiSpec, version: int, client_id: str = "test-client"
) -> RequestContext:
    """A request context for one API at one version."""
    from kafkatwist.apis import REGISTRY

    return RequestContext(
        header=RequestHeader(spec.api_key, version, 7, client_id),
        broker=broker,
        peer="127.0.0.1:5555",
        local_host="127.0.0.1",
        apis={s.api_key: s for s in REGISTRY},
    )


def call(broker: Broker, spec: ApiSpec, request: Any, version: int) -> Deferred[Any]:
    """Run a handler: a Deferred firing with its response (or None)."""
    return Deferred.fromCoroutine(spec.handle(context(broker, spec, version), request))
