"""The service's worker pools: jobs run in a thread pool, and the log cleaner over them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from kafkatwist.clock import ReactorTime, RunBlocking
from kafkatwist.config.cleaner_config import CleanerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.storage.cleaner import clean_log
from kafkatwist.storage.cleaner.manager import LogCleanerManager
from kafkatwist.storage.cleaner.service import LogCleaner
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.partition_log import PartitionLog

_T = TypeVar("_T")


def in_pool(reactor: IReactorFromThreads, pool: ThreadPool) -> RunBlocking:
    """A C{run_blocking} running jobs in C{pool}, results delivered on the reactor thread."""

    def run(fn: Callable[[], _T]) -> Deferred[_T]:
        return deferToThreadPool(reactor, pool, fn)

    return run


def log_cleaner(
    clock: ReactorTime,
    logs: LogManager,
    configs: ConfigResolver,
    run_blocking: RunBlocking,
    workers: RunBlocking,
    resize: Callable[[int], object] | None = None,
) -> LogCleaner[PartitionLog]:
    """
    Kafka's log cleaner over C{logs}: checkpoints written through C{run_blocking}, passes
    run in C{workers} (C{resize} follows C{log.cleaner.threads}); its settings are read
    from the config layers at each round.
    """
    return LogCleaner.create(
        LogCleanerManager(logs, run_blocking),
        clock,
        lambda: CleanerConfig.from_layers(configs.layers()),
        clean_log,
        workers,
        resize=resize,
    )


__all__ = ["in_pool", "log_cleaner"]
