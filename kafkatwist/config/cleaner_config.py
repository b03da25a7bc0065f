"""CleanerConfig: the log cleaner's broker settings, under Kafka's ``log.cleaner.*`` keys.

Kafka's C{CleanerConfig}. Every key but ``log.cleaner.enable`` is dynamic
cluster-wide in Kafka (C{LogCleaner.ReconfigurableConfigs}): the cleaner
reads its settings again before each round (L{CleanerConfig.from_layers}),
so an AlterConfigs takes effect at the next round without a restart, as
Kafka's reconfiguration (which restarts the cleaner threads) does.

The per-topic settings (``min.cleanable.dirty.ratio``,
``min.compaction.lag.ms``, ``max.compaction.lag.ms``,
``delete.retention.ms``) are in each log's L{LogConfig}.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from kafkatwist.config.broker_configs import BROKER_CONFIGS
from kafkatwist.config.layers import ConfigLayers
from kafkatwist.config.values import INT_MAX, ConfigError

__all__ = [
    "CLEANER_KEYS",
    "MIN_DEDUPE_BUFFER_PER_THREAD",
    "CleanerConfig",
    "check_cleaner_properties",
]

#: Kafka's C{KafkaConfig} check: more than 1 MiB of dedupe buffer per cleaner thread.
MIN_DEDUPE_BUFFER_PER_THREAD = 1024 * 1024

_ENABLE = "log.cleaner.enable"
_THREADS = "log.cleaner.threads"
_BACKOFF = "log.cleaner.backoff.ms"
_DEDUPE = "log.cleaner.dedupe.buffer.size"
_IO_BUFFER = "log.cleaner.io.buffer.size"
_LOAD_FACTOR = "log.cleaner.io.buffer.load.factor"
_IO_MAX = "log.cleaner.io.max.bytes.per.second"

#: The broker keys the cleaner reads (the topic-level ones are LogConfig's).
CLEANER_KEYS = frozenset({_ENABLE, _THREADS, _BACKOFF, _DEDUPE, _IO_BUFFER, _LOAD_FACTOR, _IO_MAX})


@frozen
class CleanerConfig:
    """
    The log cleaner's settings (Kafka 4.0's defaults).

    @ivar enable: C{log.cleaner.enable}: without it compacted topics are never cleaned.
    @ivar threads: C{log.cleaner.threads}: how many passes run at a time (0: none).
    @ivar backoff_ms: C{log.cleaner.backoff.ms}: a worker's sleep when no log is cleanable.
    @ivar dedupe_buffer_size: C{log.cleaner.dedupe.buffer.size}: the offset map
        memory of all workers together.
    @ivar io_buffer_size: C{log.cleaner.io.buffer.size}.
    @ivar io_buffer_load_factor: C{log.cleaner.io.buffer.load.factor}: how full
        the offset map may get.
    @ivar io_max_bytes_per_second: C{log.cleaner.io.max.bytes.per.second}: the
        I/O throttle shared by the workers (read plus written bytes).
    """

    enable: bool = True
    threads: int = 1
    backoff_ms: int = 15000
    dedupe_buffer_size: int = 134217728
    io_buffer_size: int = 524288
    io_buffer_load_factor: float = 0.9
    io_max_bytes_per_second: float = 1.7976931348623157e308

    @property
    def dedupe_buffer_per_thread(self) -> int:
        """Each worker's offset map budget: Kafka's C{min(size / threads, Int.MaxValue)}."""
        return min(self.dedupe_buffer_size // max(self.threads, 1), INT_MAX)

    @property
    def io_buffer_per_thread(self) -> int:
        """Each worker's read (and write) buffer: Kafka's C{ioBufferSize / threads / 2}."""
        return max(self.io_buffer_size // max(self.threads, 1) // 2, 1024)

    @property
    def runs(self) -> bool:
        """Whether any cleaning happens (enabled with at least one thread)."""
        return self.enable and self.threads > 0

    @classmethod
    def from_layers(cls, layers: ConfigLayers) -> CleanerConfig:
        """The settings as the broker's config layers give them now (dynamic ones included)."""
        return cls(
            enable=layers.broker_typed(_ENABLE, bool),
            threads=layers.broker_typed(_THREADS, int),
            backoff_ms=layers.broker_typed(_BACKOFF, int),
            dedupe_buffer_size=layers.broker_typed(_DEDUPE, int),
            io_buffer_size=layers.broker_typed(_IO_BUFFER, int),
            io_buffer_load_factor=layers.broker_typed(_LOAD_FACTOR, float),
            io_max_bytes_per_second=layers.broker_typed(_IO_MAX, float),
        )


def check_cleaner_properties(properties: Mapping[str, str]) -> None:
    """
    Kafka's start-up check of the cleaner settings of C{server.properties}.

    C{log.cleaner.dedupe.buffer.size / log.cleaner.threads} must exceed 1 MiB
    (C{KafkaConfig}'s "must be at least 1MB per cleaner thread"); with no
    thread (nothing is cleaned) there is nothing to check.

    @raise ConfigError: naming C{log.cleaner.dedupe.buffer.size}.
    """
    threads_raw = properties.get(_THREADS, BROKER_CONFIGS[_THREADS].default or "1").strip()
    size_raw = properties.get(_DEDUPE, BROKER_CONFIGS[_DEDUPE].default or "0").strip()
    threads, size = int(threads_raw), int(size_raw)
    if threads > 0 and size // threads <= MIN_DEDUPE_BUFFER_PER_THREAD:
        raise ConfigError(_DEDUPE, size_raw, "must be at least 1MB per cleaner thread")
