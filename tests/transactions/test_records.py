"""``__transaction_state`` records, against bytes laid out by hand from Kafka's schemas.

The expected bytes follow ``TransactionLogKey.json`` and
``TransactionLogValue.json`` (transaction-coordinator/, Kafka 4.0) field by
field with C{struct}, never through kafkatwist's encoder.
"""

from __future__ import annotations

import struct

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.transactions import records as rec
from kafkatwist.transactions.metadata import (
    IllegalTransition,
    TransactionMetadata,
    TxnState,
    TxnTransit,
)

TRANSIT = TxnTransit(
    producer_id=1000,
    previous_producer_id=-1,
    next_producer_id=-1,
    producer_epoch=3,
    last_producer_epoch=2,
    timeout_ms=60000,
    state=TxnState.PREPARE_COMMIT,
    partitions=frozenset({("t", 0), ("t", 1)}),
    start_ms=1_699_999_999_000,
    update_ms=1_700_000_000_000,
    client_version=2,
)


def _string(s: str) -> bytes:
    return struct.pack(">h", len(s)) + s.encode()


class RecordTests(SynchronousTestCase):
    def test_key(self) -> None:
        """The key is version 0 then the id as an int16-length string."""
        self.assertEqual(rec.encode_key("tx-1"), b"\x00\x00" + _string("tx-1"))

    def test_value_v0(self) -> None:
        """At transaction.version 0 the value is version 0, with a nullable int32 array."""
        expected = (
            struct.pack(">hqhib", 0, 1000, 3, 60000, 2)
            + struct.pack(">i", 1)
            + _string("t")
            + struct.pack(">iii", 2, 0, 1)
            + struct.pack(">qq", 1_700_000_000_000, 1_699_999_999_000)
        )
        self.assertEqual(rec.encode_value(TRANSIT, 0), expected)

    def test_value_v1(self) -> None:
        """At transaction.version 2 the value is flexible v1, the client version a tagged field."""
        expected = (
            struct.pack(">hqhib", 1, 1000, 3, 60000, 2)
            + bytes([2])  # compact array: 1 element
            + bytes([2])
            + b"t"  # compact string
            + bytes([3])
            + struct.pack(">ii", 0, 1)  # compact array of 2 int32
            + b"\x00"  # the element's tagged fields
            + struct.pack(">qq", 1_700_000_000_000, 1_699_999_999_000)
            + bytes([1, 2, 2])  # one tagged field: tag 2, 2 bytes
            + struct.pack(">h", 2)
        )
        self.assertEqual(rec.encode_value(TRANSIT, 2), expected)

    def test_empty_has_null_partitions(self) -> None:
        """An Empty state stores a null partition list (-1), as Kafka's valueToBytes."""
        empty = TxnTransit(
            producer_id=5,
            previous_producer_id=-1,
            next_producer_id=-1,
            producer_epoch=0,
            last_producer_epoch=-1,
            timeout_ms=1000,
            state=TxnState.EMPTY,
            partitions=frozenset(),
            start_ms=-1,
            update_ms=7,
        )
        value = rec.encode_value(empty, 0)
        self.assertEqual(value[17:21], struct.pack(">i", -1))

    def test_round_trip(self) -> None:
        """Decoding gives the transit back, without the last epoch (Kafka does not store it)."""
        for level in (0, 2):
            decoded = rec.decode_record(rec.encode_key("tx"), rec.encode_value(TRANSIT, level))
            assert decoded is not None and decoded.value is not None
            self.assertEqual(decoded.transactional_id, "tx")
            self.assertEqual(decoded.value.partitions, TRANSIT.partitions)
            self.assertEqual(decoded.value.last_producer_epoch, -1)
            self.assertEqual(decoded.value.client_version, 2 if level else 0)

    def test_tombstone_and_unknown_key(self) -> None:
        """A null value is a tombstone; a key of another version is skipped."""
        tombstone = rec.decode_record(rec.encode_key("tx"), None)
        assert tombstone is not None
        self.assertIsNone(tombstone.value)
        self.assertIsNone(rec.decode_record(b"\x00\x05" + _string("tx"), None))

    def test_partition_for_is_java_hash(self) -> None:
        """The partition is abs(String.hashCode) % n: "tx-1".hashCode() is 3572520 in Java."""
        self.assertEqual(rec.partition_for("tx-1", 50), 3572520 % 50)


class StateMachineTests(SynchronousTestCase):
    def metadata(self) -> TransactionMetadata:
        return TransactionMetadata("tx", 7, 60000, 0)

    def test_pending_blocks_second_transition(self) -> None:
        """A prepared transition is pending; preparing another one is a bug."""
        m = self.metadata()
        transit = m.prepare_increment_epoch(60000, None, 1)
        assert transit is not None
        self.assertRaises(IllegalTransition, m.prepare_add_partitions, [("t", 0)], 2, 0)
        m.complete(transit)
        self.assertEqual((m.state, m.producer_epoch, m.pending), (TxnState.EMPTY, 0, None))

    def test_invalid_previous_state(self) -> None:
        """Only Ongoing may prepare a commit (Kafka's validPreviousStates)."""
        m = self.metadata()
        m.producer_epoch = 0
        self.assertRaises(IllegalTransition, m.prepare_end, True, 0, -1, 1)

    def test_tv2_prepare_bumps_epoch(self) -> None:
        """Transaction version 2 prepares the end with epoch + 1, the old one as last epoch."""
        m = self.metadata()
        m.producer_epoch = 4
        m.complete(m.prepare_add_partitions([("t", 0)], 1, 2))
        transit = m.prepare_end(False, 2, -1, 2)
        self.assertEqual((transit.producer_epoch, transit.last_producer_epoch), (5, 4))
        self.assertEqual(transit.state, TxnState.PREPARE_ABORT)

    def test_state_names(self) -> None:
        """States carry Kafka's names, and ids 0-7."""
        self.assertEqual(
            [(s.value, s.kafka_name) for s in TxnState],
            [
                (0, "Empty"),
                (1, "Ongoing"),
                (2, "PrepareCommit"),
                (3, "PrepareAbort"),
                (4, "CompleteCommit"),
                (5, "CompleteAbort"),
                (6, "Dead"),
                (7, "PrepareEpochFence"),
            ],
        )
