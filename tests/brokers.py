"""A broker for handler tests: real metadata store and partition logs in a temp dir, a Clock."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.broker import Broker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.storage.manager import LogManager
from kafkatwist.topics.controller import Controller
from kafkatwist.wire.header import RequestHeader
from tests.storage.support import run_now

#: One directory per test process for the brokers' log dirs, removed at exit.
_ROOT = tempfile.mkdtemp(prefix="kafkatwist-tests-")
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


def make_broker(
    log_dir: str | None = None,
    config: Any = None,
    clock: Clock | None = None,
    log_dirs: Sequence[str] | None = None,
) -> Broker:
    """
    A loaded broker with no topics and a C{Clock}.

    Its partition logs are the file engine's, in C{log_dirs} (default:
    C{log_dir}, next to ``__cluster_metadata-0`` as in Kafka), with blocking
    work run at once, so every Deferred of a handler fires synchronously.
    """
    if log_dir is None:
        log_dir = tempfile.mkdtemp(prefix="broker-", dir=_ROOT)
    clock = clock or Clock()
    clock.advance(1_700_000_000)  # a realistic wall-clock time, in seconds
    broker = Broker(
        config=config or BrokerConfig(), clock=clock, node_id=1, cluster_id="test-cluster"
    )
    broker.metadata = KRaftMetadataStore(log_dir, clock=clock)
    broker.metadata.load()
    logs = LogManager(
        [log_dir] if log_dirs is None else list(log_dirs),
        lambda name: broker.log_config(broker.metadata.image.topics.get(name)),
        clock=clock,
        run_blocking=run_now,
    )
    logs.load()
    broker.logs = logs
    broker.extras["controller"] = Controller(broker)
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
