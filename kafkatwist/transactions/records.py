"""``__transaction_state`` records in Kafka's format, and the id-to-partition mapping.

Kafka's C{TransactionLog} writes one record per transition, keyed by the
transactional id::

    key   = int16 version 0 + TransactionLogKey v0
    value = int16 version   + TransactionLogValue (null: the id expired)

The value is written at version 1 (flexible, with the tagged previous and
next producer ids and the client's transaction version) once
``transaction.version`` 1 or more is finalized, else at version 0
(C{TransactionVersion.transactionLogValueVersion}). Empty transactions store
a null partition list. The last producer epoch is not stored: a loaded id
has none (C{TransactionLog.readTxnRecordValue}).

The id's partition is C{Utils.abs(transactionalId.hashCode()) % n}
(C{TransactionStateManager.partitionFor}), the rule the groups use.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from attrs import frozen

from kafkatwist.groups.records import partition_for
from kafkatwist.messages.transaction_coordinator_records import (
    PartitionsSchema,
    TransactionLogKey,
    TransactionLogValue,
)
from kafkatwist.transactions.metadata import (
    NO_PRODUCER_EPOCH,
    TV_0,
    TxnState,
    TxnTransit,
)
from kafkatwist.wire import schema
from kafkatwist.wire.primitives import Reader

TRANSACTION_STATE_TOPIC = "__transaction_state"


def transaction_topic_configs(segment_bytes: int) -> Mapping[str, str]:
    """The configs Kafka creates ``__transaction_state`` with (C{transactionTopicConfigs})."""
    return {
        "cleanup.policy": "compact",
        "compression.type": "uncompressed",
        "segment.bytes": str(segment_bytes),
        "unclean.leader.election.enable": "false",
    }


KEY_VERSION = 0
_INT16 = struct.Struct(">h")

__all__ = [
    "TRANSACTION_STATE_TOPIC",
    "TxnRecord",
    "decode_record",
    "encode_key",
    "encode_value",
    "partition_for",
    "transaction_topic_configs",
    "value_version",
]


def value_version(transaction_version_level: int) -> int:
    """The TransactionLogValue version Kafka writes at a finalized ``transaction.version``."""
    return 0 if transaction_version_level <= TV_0 else 1


def encode_key(transactional_id: str) -> bytes:
    """The key of a transactional id's records."""
    return _INT16.pack(KEY_VERSION) + schema.encode_bytes(
        TransactionLogKey(transactional_id=transactional_id), KEY_VERSION
    )


def encode_value(transit: TxnTransit, transaction_version_level: int) -> bytes:
    """The value recording a transition, at the version Kafka picks."""
    if transit.state == TxnState.EMPTY:
        partitions: tuple[PartitionsSchema, ...] | None = None
    else:
        by_topic: dict[str, list[int]] = {}
        for topic, p in sorted(transit.partitions):
            by_topic.setdefault(topic, []).append(p)
        partitions = tuple(
            PartitionsSchema(topic=t, partition_ids=tuple(ps)) for t, ps in by_topic.items()
        )
    version = value_version(transaction_version_level)
    # Version 0 has no tagged fields: the ids and client version are not stored.
    flexible = version >= 1
    value = TransactionLogValue(
        producer_id=transit.producer_id,
        previous_producer_id=transit.previous_producer_id if flexible else -1,
        next_producer_id=transit.next_producer_id if flexible else -1,
        producer_epoch=transit.producer_epoch,
        transaction_timeout_ms=transit.timeout_ms,
        transaction_status=int(transit.state),
        transaction_partitions=partitions,
        transaction_last_update_timestamp_ms=transit.update_ms,
        transaction_start_timestamp_ms=transit.start_ms,
        client_transaction_version=transit.client_version if flexible else 0,
    )
    return _INT16.pack(version) + schema.encode_bytes(value, version)


@frozen
class TxnRecord:
    """A decoded record: the id and its state, None for a tombstone."""

    transactional_id: str
    value: TxnTransit | None


def decode_record(key: bytes | None, value: bytes | None) -> TxnRecord | None:
    """
    Decode one ``__transaction_state`` record.

    @return: None for a key of an unknown version (skipped, as Kafka does).
    @raise kafkatwist.errors.ProtocolViolation: For malformed bytes.
    @raise ValueError: For an unknown value version or state id.
    """
    if key is None or len(key) < 2:
        return None
    (key_version,) = _INT16.unpack_from(key)
    if key_version != KEY_VERSION:
        return None
    k = schema.decode(TransactionLogKey, key_version, Reader(key, 2))
    if value is None:
        return TxnRecord(k.transactional_id, None)
    (version,) = _INT16.unpack_from(value)
    if version not in (0, 1):
        raise ValueError(f"unknown TransactionLogValue version {version}")
    v = schema.decode(TransactionLogValue, version, Reader(value, 2))
    state = TxnState(v.transaction_status)
    partitions = frozenset(
        (ps.topic, p)
        for ps in (v.transaction_partitions or ())
        for p in ps.partition_ids
        if state != TxnState.EMPTY
    )
    return TxnRecord(
        k.transactional_id,
        TxnTransit(
            producer_id=v.producer_id,
            previous_producer_id=v.previous_producer_id,
            next_producer_id=v.next_producer_id,
            producer_epoch=v.producer_epoch,
            last_producer_epoch=NO_PRODUCER_EPOCH,
            timeout_ms=v.transaction_timeout_ms,
            state=state,
            partitions=partitions,
            start_ms=v.transaction_start_timestamp_ms,
            update_ms=v.transaction_last_update_timestamp_ms,
            client_version=v.client_transaction_version,
        ),
    )
