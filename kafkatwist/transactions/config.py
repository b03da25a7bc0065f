"""TransactionConfig: the transaction coordinator's settings (Kafka's C{transaction.*} keys)."""

from __future__ import annotations

from attrs import frozen

from kafkatwist.config.properties import BrokerConfig


@frozen
class TransactionConfig:
    """
    The transaction coordinator's settings (Kafka's C{TransactionConfig}), in milliseconds.

    Built from the broker's configuration by L{from_broker_config}; the
    values are parsed and bounded by the broker config table.
    """

    #: C{transaction.state.log.num.partitions}.
    num_partitions: int = 50
    #: C{transaction.state.log.segment.bytes}.
    segment_bytes: int = 104857600
    #: C{transaction.max.timeout.ms}.
    max_timeout_ms: int = 900000
    #: C{transactional.id.expiration.ms}.
    id_expiration_ms: int = 604800000
    #: C{transaction.abort.timed.out.transaction.cleanup.interval.ms}.
    abort_timed_out_interval_ms: int = 10000
    #: C{transaction.remove.expired.transaction.cleanup.interval.ms}.
    remove_expired_interval_ms: int = 3600000
    #: How long a marker that could not be written waits before it is tried again.
    marker_retry_backoff_ms: int = 100

    @classmethod
    def from_broker_config(cls, config: BrokerConfig) -> TransactionConfig:
        """The transaction settings of a broker's configuration."""
        return cls(
            num_partitions=config.transaction_state_log_num_partitions,
            segment_bytes=config.transaction_state_log_segment_bytes,
            max_timeout_ms=config.transaction_max_timeout_ms,
            id_expiration_ms=config.transactional_id_expiration_ms,
            abort_timed_out_interval_ms=config.transaction_abort_timed_out_cleanup_interval_ms,
            remove_expired_interval_ms=config.transaction_remove_expired_cleanup_interval_ms,
        )
