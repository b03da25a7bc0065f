"""A broker over file logs in a temp dir, built as the service builds it, for topics/ tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.broker import Broker, build_broker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.storage.interfaces import ILogManager, IPartitionLog
from kafkatwist.storage.kraft import KRaftMetadataStore, run_now
from kafkatwist.storage.results import ReadResult
from kafkatwist.transport.engines import file_log_manager
from tests.storage.support import temp_dir

#: The clock's start: a realistic wall-clock time, in seconds.
START = 1_700_000_000


def file_broker(
    case: SynchronousTestCase,
    log_dir: str | None = None,
    properties: Mapping[str, str] | None = None,
) -> Broker:
    """
    A loaded broker over file logs in C{log_dir} (a fresh temp dir by default).

    Its file work runs synchronously and its clock is a L{Clock}; the logs
    are closed when the test ends.
    """
    if log_dir is None:
        log_dir = temp_dir(case)
    config = BrokerConfig.from_properties({"log.dirs": log_dir, **(properties or {})})
    clock = Clock()
    clock.advance(START)
    metadata = KRaftMetadataStore(log_dir, clock=clock)
    case.successResultOf(metadata.load())
    configs = ConfigResolver(config, metadata)
    logs = file_log_manager(config, clock, run_now, configs)
    case.successResultOf(logs.load())
    case.addCleanup(logs.close)
    return build_broker(config, clock, metadata, cast(ILogManager, logs), configs, cluster_id="c")


def read_all(case: SynchronousTestCase, log: IPartitionLog) -> ReadResult:
    """Everything in C{log} (whether its reads answer at once or through a Deferred)."""
    d: Deferred[ReadResult] = maybeDeferred(log.read, log.log_start_offset, 1 << 24)
    return case.successResultOf(d)
