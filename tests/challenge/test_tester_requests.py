"""Self-checks: requests built by the tester port are byte-identical to the recorded ones."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.challenge.recorded import (
    APIVERSIONS_REQ_0A95C1BF,
    APIVERSIONS_REQ_NC5,
    APIVERSIONS_REQ_NV3,
    DTP_REQ_EA7,
    DTP_REQ_KU4,
    DTP_REQ_VT6,
    DTP_REQ_WQ2,
    FETCH_REQ_CM4,
    FETCH_REQ_DH6,
    FETCH_REQ_EG2,
    FETCH_REQ_FD8,
    FETCH_REQ_HN6,
    FETCH_REQ_LS8,
    PRODUCE_REQ_CT4,
    PRODUCE_REQ_GG1,
    PRODUCE_REQ_LS8,
    PRODUCE_REQ_OV0,
    PRODUCE_REQ_YD8,
    PRODUCE_REQ_ZF2_A,
    PRODUCE_REQ_ZF2_B,
    README_APIVERSIONS_BAD,
    README_APIVERSIONS_V4,
    README_APIVERSIONS_V4_B,
    README_DTP_QUX,
    uuid_of,
)
from tests.challenge.tester.record_batch import produce_batch, record_batch_crc, signed32

# Renamed: pytest would collect a module-level name starting with "test".
from tests.challenge.tester.record_batch import tester_log_batch as generated_log_batch
from tests.challenge.tester.request_encoders import (
    encode_api_versions_request,
    encode_describe_topic_partitions_request,
    encode_fetch_request,
    encode_produce_request,
)


class RequestEncodingTests(SynchronousTestCase):
    """Requests built by the port are byte-identical to the recorded ones."""

    def test_api_versions_v4(self) -> None:
        """ApiVersions v4 with client id kafka-tester matches the PV1/GS0 fixture."""
        self.assertEqual(encode_api_versions_request(0x0A95C1BF), APIVERSIONS_REQ_0A95C1BF)

    def test_api_versions_hardcoded_correlation_id(self) -> None:
        """The NV3 request carries correlation id 7."""
        self.assertEqual(encode_api_versions_request(7), APIVERSIONS_REQ_NV3)

    def test_api_versions_unsupported_version(self) -> None:
        """The NC5 request keeps the v4 body under a bogus header version."""
        self.assertEqual(
            encode_api_versions_request(0x605A05CD, api_version=1698),
            APIVERSIONS_REQ_NC5,
        )

    def test_api_versions_starter_readme(self) -> None:
        """The starter README's hand-made requests use client id kafka-cli."""
        self.assertEqual(
            encode_api_versions_request(0x50B2A730, client_id="kafka-cli"),
            README_APIVERSIONS_V4,
        )
        self.assertEqual(
            encode_api_versions_request(0x6F7FC661, client_id="kafka-cli"),
            README_APIVERSIONS_V4_B,
        )
        self.assertEqual(
            encode_api_versions_request(0x4F74D28B, api_version=0x674A, client_id="kafka-cli"),
            README_APIVERSIONS_BAD,
        )

    def test_describe_topic_partitions(self) -> None:
        """DescribeTopicPartitions v0 requests match VT6, EA7, KU4, WQ2 and the README."""
        cases = [
            (0x7D7B4A94, ["UNKNOWN_TOPIC_92"], 1, DTP_REQ_VT6),
            (0x7076DB55, ["mango"], 1, DTP_REQ_EA7),
            (0x01EE847E, ["apple"], 2, DTP_REQ_KU4),
            (0x73DBA9A0, ["banana", "raspberry"], 3, DTP_REQ_WQ2),
            (0x2AA78CCF, ["unknown-topic-qux"], 1, README_DTP_QUX),
        ]
        for correlation_id, names, limit, expected in cases:
            self.assertEqual(
                encode_describe_topic_partitions_request(correlation_id, names, limit),
                expected,
            )

    def test_fetch(self) -> None:
        """Fetch v16 requests match DH6, HN6, CM4, EG2, FD8 and the post-produce fetch."""
        cases = [
            (0x605A05CD, [], FETCH_REQ_DH6),
            (0x7602B058, [(uuid_of("000000000479"), [0])], FETCH_REQ_HN6),
            (0x5CDD07A9, [(uuid_of("71087585a62d"), [0])], FETCH_REQ_CM4),
            (0x018D2F37, [(uuid_of("b2dc350e60ec"), [0])], FETCH_REQ_EG2),
            (0x0B657E30, [(uuid_of("aaa9c9b1a62c"), [0])], FETCH_REQ_FD8),
            (0x0E290CC6, [(uuid_of("49379a7e97cc"), [0])], FETCH_REQ_LS8),
        ]
        for correlation_id, topics, expected in cases:
            self.assertEqual(encode_fetch_request(correlation_id, topics), expected)

    def test_produce_single_partition(self) -> None:
        """Produce v11 requests with one partition match ZF2, GG1, LS8 and YD8."""
        cases = [
            (0x47B36978, "orange", 720, ["mango"], PRODUCE_REQ_ZF2_A),
            (0x27115736, "pear", 0, ["pear"], PRODUCE_REQ_ZF2_B),
            (0x517F2D86, "apple", 0, ["apple"], PRODUCE_REQ_GG1),
            (0x7B4D6D13, "pineapple", 0, ["apple"], PRODUCE_REQ_LS8),
            (0x0B8B5F1D, "apple", 0, ["strawberry", "pear", "apple"], PRODUCE_REQ_YD8),
        ]
        for correlation_id, name, partition, messages, expected in cases:
            request = encode_produce_request(
                correlation_id, [(name, [(partition, produce_batch(messages))])]
            )
            self.assertEqual(request, expected)

    def test_produce_multiple_partitions_and_topics(self) -> None:
        """Produce v11 requests spanning partitions and topics match CT4 and OV0."""
        ct4 = encode_produce_request(
            0x1C7BF526,
            [
                (
                    "orange",
                    [
                        (0, produce_batch(["raspberry", "pineapple"])),
                        (1, produce_batch(["orange", "pineapple"])),
                    ],
                )
            ],
        )
        self.assertEqual(ct4, PRODUCE_REQ_CT4)
        ov0 = encode_produce_request(
            0x5001F4EC,
            [
                ("mango", [(0, produce_batch(["mango", "banana", "apple"]))]),
                (
                    "grape",
                    [
                        (0, produce_batch(["strawberry", "pear"])),
                        (1, produce_batch(["raspberry", "mango"])),
                    ],
                ),
            ],
        )
        self.assertEqual(ov0, PRODUCE_REQ_OV0)

    def test_generated_log_batch_crc(self) -> None:
        """A generated one-message log batch has the CRC Kafka served back in EG2/FD8."""
        self.assertEqual(
            signed32(record_batch_crc(generated_log_batch(0, "pineapple"))),
            -818561182,
        )
        self.assertEqual(
            signed32(record_batch_crc(generated_log_batch(0, "raspberry"))),
            -1301900292,
        )
