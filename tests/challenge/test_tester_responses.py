"""Self-checks: real Kafka's recorded answers pass the ported assertions, broken ones fail."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.challenge.recorded import (
    APIVERSIONS_RESP_0A95C1BF,
    APIVERSIONS_RESP_NC5,
    DTP_RESP_EA7,
    DTP_RESP_KU4,
    DTP_RESP_VT6,
    DTP_RESP_WQ2,
    FETCH_RESP_CM4,
    FETCH_RESP_DH6,
    FETCH_RESP_EG2,
    FETCH_RESP_FD8,
    FETCH_RESP_HN6,
    FETCH_RESP_LS8,
    PRODUCE_RESP_CT4,
    PRODUCE_RESP_GG1,
    PRODUCE_RESP_OV0,
    PRODUCE_RESP_YD8,
    PRODUCE_RESP_ZF2_A,
    PRODUCE_RESP_ZF2_B,
    uuid_of,
)
from tests.challenge.tester.constants import ZERO_UUID
from tests.challenge.tester.encoder import frame
from tests.challenge.tester.kafka_files_generator import PartitionSpec
from tests.challenge.tester.record_batch import produce_batch
from tests.challenge.tester.response_assertions import (
    ExpectedProducePartition,
    ExpectedTopic,
    check_api_versions,
    check_api_versions_error_code,
    check_correlation_id_only,
    check_describe_topic_partitions,
    check_fetch,
    check_produce,
    expected_produce_success,
)


class RealKafkaResponseTests(SynchronousTestCase):
    """Real Kafka's recorded answers pass the ported assertions."""

    def test_api_versions(self) -> None:
        """
        Kafka's ApiVersions answer passes pv1, yk1, gs0 and um3 expectations, tagged fields
        included.
        """
        response = check_api_versions(
            APIVERSIONS_RESP_0A95C1BF,
            0x0A95C1BF,
            [(0, 0, 11), (1, 0, 16), (18, 0, 4), (75, 0, 0)],
        )
        self.assertEqual(len(response.api_keys), 61)

    def test_api_versions_correlation_only(self) -> None:
        """nv3/wa6 only look at the correlation id and ignore the size."""
        raw = b"\x00\x00\x00\x00" + APIVERSIONS_RESP_0A95C1BF[4:]
        check_correlation_id_only(raw, 0x0A95C1BF)

    def test_api_versions_error(self) -> None:
        """Kafka's v0 error answer to version 1698 passes the nc5 check."""
        check_api_versions_error_code(APIVERSIONS_RESP_NC5, 0x605A05CD, 35)

    def test_describe_topic_partitions(self) -> None:
        """Kafka's DescribeTopicPartitions answers pass vt6, ea7, ku4 and wq2."""
        check_describe_topic_partitions(
            DTP_RESP_VT6,
            0x7D7B4A94,
            [ExpectedTopic("UNKNOWN_TOPIC_92", 3, ZERO_UUID, ())],
        )
        check_describe_topic_partitions(
            DTP_RESP_EA7,
            0x7076DB55,
            [ExpectedTopic("mango", 0, uuid_of("2d59b2dc350e"), ((0, 0),))],
        )
        check_describe_topic_partitions(
            DTP_RESP_KU4,
            0x01EE847E,
            [ExpectedTopic("apple", 0, uuid_of("7e97ccdaaa9c"), ((0, 0), (1, 0)))],
        )
        check_describe_topic_partitions(
            DTP_RESP_WQ2,
            0x73DBA9A0,
            [
                ExpectedTopic("banana", 0, uuid_of("0000000001ac"), ((0, 0),)),
                ExpectedTopic("raspberry", 0, uuid_of("0000000004cb"), ((0, 0), (1, 0))),
            ],
        )

    def test_describe_topic_partitions_order_matters(self) -> None:
        """Topics are asserted positionally in name order."""
        expected = [
            ExpectedTopic("raspberry", 0, uuid_of("0000000004cb"), ((0, 0), (1, 0))),
            ExpectedTopic("banana", 0, uuid_of("0000000001ac"), ((0, 0),)),
        ]
        self.assertRaises(
            AssertionError,
            check_describe_topic_partitions,
            DTP_RESP_WQ2,
            0x73DBA9A0,
            expected,
        )

    def test_fetch_no_topics_and_unknown_topic(self) -> None:
        """Kafka's dh6 and hn6 answers pass, despite non-zero session ids."""
        check_fetch(FETCH_RESP_DH6, 0x605A05CD)
        check_fetch(
            FETCH_RESP_HN6,
            0x7602B058,
            topic_id=uuid_of("000000000479"),
            partition_index=0,
            partition_error_code=100,
        )

    def test_fetch_from_disk(self) -> None:
        """Kafka's cm4, eg2 and fd8 answers match the batches the tester generated."""
        check_fetch(
            FETCH_RESP_CM4,
            0x5CDD07A9,
            topic_id=uuid_of("71087585a62d"),
            partition_index=0,
            partition_error_code=0,
            expected_batches=PartitionSpec(0, ()).batches,
        )
        check_fetch(
            FETCH_RESP_EG2,
            0x018D2F37,
            topic_id=uuid_of("b2dc350e60ec"),
            partition_index=0,
            partition_error_code=0,
            expected_batches=PartitionSpec(0, ("pineapple",)).batches,
        )
        check_fetch(
            FETCH_RESP_FD8,
            0x0B657E30,
            topic_id=uuid_of("aaa9c9b1a62c"),
            partition_index=0,
            partition_error_code=0,
            expected_batches=PartitionSpec(0, ("raspberry", "pineapple")).batches,
        )

    def test_fetch_rejects_other_batches(self) -> None:
        """
        A different record value, or headers count 0 instead of -1, fails the batch comparison.
        """
        for batches in (
            PartitionSpec(0, ("raspberry",)).batches,
            (produce_batch(["pineapple"]),),
        ):
            self.assertRaises(
                AssertionError,
                check_fetch,
                FETCH_RESP_EG2,
                0x018D2F37,
                topic_id=uuid_of("b2dc350e60ec"),
                partition_index=0,
                partition_error_code=0,
                expected_batches=batches,
            )

    def test_fetch_after_produce(self) -> None:
        """The produced batch comes back unchanged in the post-produce fetch."""
        check_fetch(
            FETCH_RESP_LS8,
            0x0E290CC6,
            topic_id=uuid_of("49379a7e97cc"),
            partition_index=0,
            partition_error_code=0,
            expected_batches=[produce_batch(["apple"])],
        )

    def test_produce_errors(self) -> None:
        """Kafka's error 3 answers pass the ck2 expectations."""
        for raw, correlation_id, name, partition in (
            (PRODUCE_RESP_ZF2_A, 0x47B36978, "orange", 720),
            (PRODUCE_RESP_ZF2_B, 0x27115736, "pear", 0),
        ):
            expected = ExpectedProducePartition(partition, 3, -1, -1, -1)
            check_produce(raw, correlation_id, [(name, [expected])])

    def test_produce_success(self) -> None:
        """Kafka's success answers pass, with partitions and topics matched in any order."""
        check_produce(PRODUCE_RESP_GG1, 0x517F2D86, expected_produce_success([("apple", [0])]))
        check_produce(PRODUCE_RESP_YD8, 0x0B8B5F1D, expected_produce_success([("apple", [0])]))
        check_produce(
            PRODUCE_RESP_CT4,
            0x1C7BF526,
            expected_produce_success([("orange", [0, 1])]),
        )
        check_produce(
            PRODUCE_RESP_OV0,
            0x5001F4EC,
            expected_produce_success([("mango", [0]), ("grape", [0, 1])]),
        )


class BrokenResponseTests(SynchronousTestCase):
    """The ported assertions fail on the mistakes the tester catches."""

    def test_message_size_counting_itself(self) -> None:
        """A size that includes its own 4 bytes fails."""
        raw = bytearray(PRODUCE_RESP_GG1)
        raw[3] += 4
        self.assertRaises(
            AssertionError,
            check_produce,
            bytes(raw),
            0x517F2D86,
            expected_produce_success([("apple", [0])]),
        )

    def test_trailing_bytes(self) -> None:
        """Extra bytes after the response fail the size check (they are read within the window)."""
        self.assertRaises(AssertionError, check_fetch, FETCH_RESP_DH6 + b"\x00", 0x605A05CD)

    def test_trailing_bytes_inside_frame(self) -> None:
        """A correctly sized frame with undecoded bytes at the end fails in strict mode only."""
        raw = frame(FETCH_RESP_DH6[4:] + b"\x00")
        self.assertRaises(AssertionError, check_fetch, raw, 0x605A05CD)
        check_fetch(raw, 0x605A05CD, strict=False)

    def test_wrong_correlation_id(self) -> None:
        """A different correlation id fails."""
        self.assertRaises(
            AssertionError,
            check_api_versions,
            APIVERSIONS_RESP_0A95C1BF,
            1,
            [(18, 0, 4)],
        )

    def test_missing_api_key(self) -> None:
        """An ApiVersions answer without a required key fails."""
        self.assertRaises(
            AssertionError,
            check_api_versions,
            APIVERSIONS_RESP_0A95C1BF,
            0x0A95C1BF,
            [(18, 0, 4), (99, 0, 0)],
        )

    def test_corrupt_crc(self) -> None:
        """A flipped record byte fails the CRC-32C check while decoding."""
        raw = bytearray(FETCH_RESP_EG2)
        raw[raw.index(b"pineapple")] ^= 0x20
        self.assertRaises(
            AssertionError,
            check_fetch,
            bytes(raw),
            0x018D2F37,
            topic_id=uuid_of("b2dc350e60ec"),
            partition_index=0,
            partition_error_code=0,
        )
