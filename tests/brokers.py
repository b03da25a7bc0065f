"""A broker for handler tests: real metadata store and partition logs in a temp dir, a Clock."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.broker import Broker, build_broker
from kafkatwist.clock import RunBlocking
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.storage.interfaces import ILogManager, IPartitionLog
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.read_pool import ReadPool
from kafkatwist.wire.header import RequestHeader
from tests.storage.support import run_now

#: One directory per test process for the brokers' log dirs, removed at exit.
_ROOT = tempfile.mkdtemp(prefix="kafkatwist-tests-")
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


def make_broker(
    log_dir: str | None = None,
    config: BrokerConfig | None = None,
    clock: Clock | None = None,
    logs: ILogManager | None = None,
    log_dirs: Sequence[str] | None = None,
    wrap_logs: Callable[[ILogManager], ILogManager] | None = None,
    read_pool: ReadPool | None = None,
    run_blocking: RunBlocking | None = None,
) -> Broker:
    """
    A loaded broker with no topics and a C{Clock}.

    Built by L{build_broker}, as the service builds its broker; its cluster
    is started (it leads every partition), its group coordinator is not.
    Its partition logs are the file engine's, in C{log_dirs} (default:
    C{log_dir}, next to ``__cluster_metadata-0`` as in Kafka), with blocking
    work run at once, so every Deferred of a handler fires synchronously.

    @param logs: The log manager to use instead (a "restarted" broker passes
        the one it restarts over).
    @param wrap_logs: Wraps the log manager the broker's services get (a
        test's fault injection).
    @param read_pool: Where the logs' cold reads run (default: at once).
    @param run_blocking: The partitions' worker threads (default: none, work
        runs at once).
    """
    if log_dir is None:
        log_dir = tempfile.mkdtemp(prefix="broker-", dir=_ROOT)
    clock = clock or Clock()
    clock.advance(1_700_000_000)  # a realistic wall-clock time, in seconds
    config = config or BrokerConfig()
    metadata = KRaftMetadataStore(log_dir, clock=clock)
    metadata.load()
    configs = ConfigResolver(config, metadata)
    if logs is None:
        manager = LogManager(
            [log_dir] if log_dirs is None else list(log_dirs),
            configs.log_config,
            clock=clock,
            run_blocking=run_now,
            read_pool=ReadPool(run_now) if read_pool is None else read_pool,
        )
        manager.load()
        logs = manager
    if wrap_logs is not None:
        logs = wrap_logs(logs)
    broker = build_broker(
        config, clock, metadata, logs, configs, cluster_id="test-cluster", run_blocking=run_blocking
    )
    broker.advertised_port = 9092
    broker.cluster.start(broker.advertised_listeners)
    return broker


def with_logs(broker: Broker, logs: ILogManager) -> Broker:
    """The same broker (config, clock, metadata) rebuilt over other logs."""
    rebuilt = build_broker(
        broker.config,
        broker.clock,
        broker.metadata,
        logs,
        broker.configs,
        cluster_id=broker.cluster_id,
    )
    rebuilt.advertised_port = broker.advertised_port
    rebuilt.cluster.start(rebuilt.advertised_listeners)
    return rebuilt


def clock_of(broker: Broker) -> Clock:
    """The C{Clock} of a broker from L{make_broker}, to advance it."""
    assert isinstance(broker.clock, Clock), broker.clock
    return broker.clock


def metadata_of(broker: Broker) -> KRaftMetadataStore:
    """The metadata store of a broker from L{make_broker}: the file-backed one."""
    assert isinstance(broker.metadata, KRaftMetadataStore), broker.metadata
    return broker.metadata


def log_of(broker: Broker, topic: str, partition: int) -> IPartitionLog:
    """The open log of C{topic}-C{partition}, which the test expects to exist."""
    log = broker.logs.get(topic, partition)
    assert log is not None, f"no log for {topic}-{partition}"
    return log


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

    async def handled() -> Any:
        return await spec.handle(context(broker, spec, version), request)

    return Deferred.fromCoroutine(handled())
