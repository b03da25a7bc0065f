"""Golden frames: bytes captured from real clients and brokers decode and re-encode.

Every fixture in C{tests/fixtures/} names its source; none comes from our own
encoder. Each golden body decodes to the expected model, and encoding that
model at the same version gives back the same bytes.
"""

from __future__ import annotations

import uuid
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.messages.api_versions import (
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
    FinalizedFeatureKey,
    SupportedFeatureKey,
)
from kafkatwist.messages.describe_topic_partitions import (
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
    DescribeTopicPartitionsResponsePartition,
    DescribeTopicPartitionsResponseTopic,
    TopicRequest,
)
from kafkatwist.messages.fetch import (
    FetchableTopicResponse,
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    PartitionData,
)
from kafkatwist.messages.produce import (
    PartitionProduceData,
    PartitionProduceResponse,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
    TopicProduceResponse,
)
from kafkatwist.wire import schema
from kafkatwist.wire.header import (
    RequestHeader,
    decode_request_header,
    decode_response_header,
    encode_request_header,
    encode_response_header,
    request_header_version,
    response_header_version,
)
from kafkatwist.wire.primitives import Reader, Writer
from tests.support import load_hex, unframe

TOPIC_ID = uuid.UUID("00000000-0000-4000-8000-000000000086")


def _one_frame(name: str) -> bytes:
    frames = unframe(load_hex(name))
    assert len(frames) == 1, name
    return frames[0]


class GoldenCase(SynchronousTestCase):
    """Helpers to check a golden request or response."""

    def check_request(
        self, name: str, cls: type, expected_header: RequestHeader, expected: Any
    ) -> Any:
        """Decode a golden request frame, compare, and re-encode header and body."""
        frame = _one_frame(name)
        version = expected_header.api_version
        flexible = version in schema.message_info(cls).flexible
        header_version = request_header_version(expected_header.api_key, version, flexible)
        r = Reader(frame)
        header = decode_request_header(r, header_version)
        self.assertEqual(header, expected_header)
        body: Any = schema.decode(cls, version, r)
        self.assertEqual(r.remaining, 0)
        self.assertEqual(body, expected)
        w = Writer()
        encode_request_header(w, header, header_version)
        schema.encode(body, version, w)
        self.assertEqual(w.getvalue(), frame)
        return body

    def check_response(
        self, name: str, cls: type, version: int, correlation_id: int, expected: Any
    ) -> Any:
        """Decode a golden response frame, compare, and re-encode header and body."""
        frame = _one_frame(name)
        info = schema.message_info(cls)
        header_version = response_header_version(info.api_key or 0, version in info.flexible)
        r = Reader(frame)
        self.assertEqual(decode_response_header(r, header_version), correlation_id)
        body: Any = schema.decode(cls, version, r)
        self.assertEqual(r.remaining, 0)
        self.assertEqual(body, expected)
        w = Writer()
        encode_response_header(w, correlation_id, header_version)
        schema.encode(body, version, w)
        self.assertEqual(w.getvalue(), frame)
        return body


#: The api keys and version ranges in the real broker's ApiVersions v4 answer
#: (tests/fixtures/api_versions_v4_response.hex).
BROKER_KEYS = [
    (0, 0, 11),
    (1, 0, 17),
    (2, 0, 9),
    (3, 0, 12),
    (8, 0, 9),
    (9, 0, 9),
    (10, 0, 6),
    (11, 0, 9),
    (12, 0, 4),
    (13, 0, 5),
    (14, 0, 5),
    (15, 0, 5),
    (16, 0, 5),
    (17, 0, 1),
    (18, 0, 4),
    (19, 0, 7),
    (20, 0, 6),
    (21, 0, 2),
    (22, 0, 5),
    (23, 0, 4),
    (24, 0, 5),
    (25, 0, 4),
    (26, 0, 4),
    (27, 0, 1),
    (28, 0, 4),
    (29, 0, 3),
    (30, 0, 3),
    (31, 0, 3),
    (32, 0, 4),
    (33, 0, 2),
    (34, 0, 2),
    (35, 0, 4),
    (36, 0, 2),
    (37, 0, 3),
    (38, 0, 3),
    (39, 0, 2),
    (40, 0, 2),
    (41, 0, 3),
    (42, 0, 2),
    (43, 0, 2),
    (44, 0, 1),
    (45, 0, 0),
    (46, 0, 0),
    (47, 0, 0),
    (48, 0, 1),
    (49, 0, 1),
    (50, 0, 0),
    (51, 0, 0),
    (55, 0, 2),
    (57, 0, 1),
    (60, 0, 1),
    (61, 0, 0),
    (64, 0, 0),
    (65, 0, 0),
    (66, 0, 1),
    (68, 0, 0),
    (69, 0, 0),
    (74, 0, 0),
    (75, 0, 0),
    (80, 0, 0),
    (81, 0, 0),
]


class ApiVersionsGoldenTests(GoldenCase):
    """ApiVersions v4 from kafka-tester's fixtures and the starter README."""

    def test_request_v4(self) -> None:
        """The tester's ApiVersions v4 request decodes to the client software fields."""
        self.check_request(
            "api_versions_v4_request",
            ApiVersionsRequest,
            RequestHeader(18, 4, 177586623, "kafka-cli"),
            ApiVersionsRequest(client_software_name="kafka-cli", client_software_version="0.1"),
        )

    def test_response_v4(self) -> None:
        """A real broker's ApiVersions v4 response, with tagged features, round-trips exactly."""
        self.check_response(
            "api_versions_v4_response",
            ApiVersionsResponse,
            4,
            177586623,
            ApiVersionsResponse(
                error_code=0,
                api_keys=tuple(
                    ApiVersion(api_key=k, min_version=lo, max_version=hi)
                    for k, lo, hi in BROKER_KEYS
                ),
                throttle_time_ms=0,
                supported_features=(
                    SupportedFeatureKey(name="group.version", min_version=0, max_version=1),
                    SupportedFeatureKey(name="kraft.version", min_version=0, max_version=1),
                    SupportedFeatureKey(name="metadata.version", min_version=1, max_version=22),
                ),
                finalized_features_epoch=14,
                finalized_features=(
                    FinalizedFeatureKey(
                        name="metadata.version", max_version_level=20, min_version_level=20
                    ),
                ),
            ),
        )

    def test_starter_readme_requests(self) -> None:
        """The starter README's ApiVersions v4 requests decode and re-encode exactly."""
        frames = unframe(load_hex("starter_readme_requests"))
        for frame, correlation_id in [(frames[1], 0x50B2A730), (frames[2], 0x6F7FC661)]:
            r = Reader(frame)
            header = decode_request_header(r, 2)
            self.assertEqual(header, RequestHeader(18, 4, correlation_id, "kafka-cli"))
            body = schema.decode(ApiVersionsRequest, 4, r)
            self.assertEqual(r.remaining, 0)
            self.assertEqual(
                body,
                ApiVersionsRequest(client_software_name="kafka-cli", client_software_version="0.1"),
            )
            w = Writer()
            encode_request_header(w, header, 2)
            schema.encode(body, 4, w)
            self.assertEqual(w.getvalue(), frame)

    def test_starter_readme_unsupported_version(self) -> None:
        """The starter README's first request asks for ApiVersions version 0x674a."""
        frame = unframe(load_hex("starter_readme_requests"))[0]
        header = decode_request_header(Reader(frame), 1)
        self.assertEqual(header, RequestHeader(18, 0x674A, 0x4F74D28B, "kafka-cli"))


class DescribeTopicPartitionsGoldenTests(GoldenCase):
    """DescribeTopicPartitions v0 from kafka-tester's fixtures and the starter README."""

    def test_request_v0(self) -> None:
        """The tester's request for topic "bar" decodes with a null cursor."""
        self.check_request(
            "describe_topic_partitions_v0_request",
            DescribeTopicPartitionsRequest,
            RequestHeader(75, 0, 96710698, "kafka-tester"),
            DescribeTopicPartitionsRequest(
                topics=(TopicRequest(name="bar"),), response_partition_limit=1, cursor=None
            ),
        )

    def test_starter_readme_request(self) -> None:
        """The starter README's DescribeTopicPartitions request decodes and re-encodes exactly."""
        frame = unframe(load_hex("starter_readme_requests"))[3]
        r = Reader(frame)
        header = decode_request_header(r, 2)
        self.assertEqual(header, RequestHeader(75, 0, 0x2AA78CCF, "kafka-tester"))
        body = schema.decode(DescribeTopicPartitionsRequest, 0, r)
        self.assertEqual(
            body,
            DescribeTopicPartitionsRequest(
                topics=(TopicRequest(name="unknown-topic-qux"),), response_partition_limit=1
            ),
        )
        w = Writer()
        encode_request_header(w, header, 2)
        schema.encode(body, 0, w)
        self.assertEqual(w.getvalue(), frame)

    def test_response_v0(self) -> None:
        """The pass fixture's response for "bar" decodes with one partition."""
        self.check_response(
            "describe_topic_partitions_v0_response",
            DescribeTopicPartitionsResponse,
            0,
            96710698,
            DescribeTopicPartitionsResponse(
                throttle_time_ms=0,
                topics=(
                    DescribeTopicPartitionsResponseTopic(
                        error_code=0,
                        name="bar",
                        topic_id=TOPIC_ID,
                        is_internal=False,
                        partitions=(
                            DescribeTopicPartitionsResponsePartition(
                                error_code=0,
                                partition_index=0,
                                leader_id=1,
                                leader_epoch=0,
                                replica_nodes=(1,),
                                isr_nodes=(1,),
                                eligible_leader_replicas=(),
                                last_known_elr=(),
                                offline_replicas=(),
                            ),
                        ),
                        topic_authorized_operations=0x0DF8,
                    ),
                ),
                next_cursor=None,
            ),
        )

    def test_unknown_topic_response_v0(self) -> None:
        """The pass fixture's unknown-topic response carries error 3 and a zero topic id."""
        self.check_response(
            "describe_topic_partitions_v0_unknown_response",
            DescribeTopicPartitionsResponse,
            0,
            1616512461,
            DescribeTopicPartitionsResponse(
                topics=(
                    DescribeTopicPartitionsResponseTopic(
                        error_code=3,
                        name="unknown-topic-saz",
                        topic_id=uuid.UUID(int=0),
                        partitions=(),
                        topic_authorized_operations=3576,
                    ),
                ),
            ),
        )


#: The record batch in the golden Fetch v16 response (94 bytes, one record
#: "Hello Reverse Engineering!"), as sliced from that fixture.
FETCH_BATCH = (
    bytes.fromhex(
        "0000000000000000"
        "00000052"
        "00000000"
        "02"
        "8baa872a"
        "0000"
        "00000000"
        "00000191e05b6d8b"
        "00000191e05b6d8b"
        "0000000000000000"
        "0000"
        "00000000"
        "00000001"
        "40"
        "00"
        "00"
        "00"
        "01"
        "34"
    )
    + b"Hello Reverse Engineering!"
    + b"\x00"
)

#: The record batch in the golden Produce v11 request (73 bytes, value "mango").
PRODUCE_BATCH = (
    bytes.fromhex(
        "0000000000000000"
        "0000003d"
        "00000000"
        "02"
        "72bc4ab0"
        "0000"
        "00000000"
        "00000191e05b6d8b"
        "00000191e05b6d8b"
        "0000000000000000"
        "0000"
        "00000000"
        "00000001"
        "16"
        "00"
        "00"
        "00"
        "01"
        "0a"
    )
    + b"mango"
    + b"\x00"
)


class FetchGoldenTests(GoldenCase):
    """Fetch v16 from kafka-tester's fetch/pass fixture."""

    def test_request_v16(self) -> None:
        """The tester's Fetch v16 request decodes to one topic id and partition."""
        self.check_request(
            "fetch_v16_request",
            FetchRequest,
            RequestHeader(1, 16, 1893237013, "kafka-cli"),
            FetchRequest(
                max_wait_ms=500,
                min_bytes=1,
                max_bytes=52428800,
                isolation_level=0,
                session_id=0,
                session_epoch=0,
                topics=(
                    FetchTopic(
                        topic_id=TOPIC_ID,
                        partitions=(
                            FetchPartition(
                                partition=0,
                                current_leader_epoch=-1,
                                fetch_offset=0,
                                last_fetched_epoch=-1,
                                log_start_offset=-1,
                                partition_max_bytes=1048576,
                            ),
                        ),
                    ),
                ),
                forgotten_topics_data=(),
                rack_id="",
            ),
        )

    def test_response_v16(self) -> None:
        """The pass fixture's Fetch v16 response carries one record batch, kept as bytes."""
        self.assertEqual(len(FETCH_BATCH), 94)
        body = self.check_response(
            "fetch_v16_response",
            FetchResponse,
            16,
            1893237013,
            FetchResponse(
                throttle_time_ms=0,
                error_code=0,
                session_id=260689356,
                responses=(
                    FetchableTopicResponse(
                        topic_id=TOPIC_ID,
                        partitions=(
                            PartitionData(
                                partition_index=0,
                                error_code=0,
                                high_watermark=1,
                                last_stable_offset=1,
                                log_start_offset=0,
                                aborted_transactions=None,
                                preferred_read_replica=-1,
                                records=FETCH_BATCH,
                            ),
                        ),
                    ),
                ),
            ),
        )
        self.assertEqual(bytes(body.responses[0].partitions[0].records), FETCH_BATCH)


class ProduceGoldenTests(GoldenCase):
    """Produce v11 from kafka-tester's produce/pass fixture."""

    def test_request_v11(self) -> None:
        """The tester's Produce v11 request decodes with its record batch intact."""
        self.assertEqual(len(PRODUCE_BATCH), 73)
        self.check_request(
            "produce_v11_request",
            ProduceRequest,
            RequestHeader(0, 11, 1202940280, "kafka-tester"),
            ProduceRequest(
                transactional_id=None,
                acks=-1,
                timeout_ms=30000,
                topic_data=(
                    TopicProduceData(
                        name="orange",
                        partition_data=(PartitionProduceData(index=720, records=PRODUCE_BATCH),),
                    ),
                ),
            ),
        )

    def test_response_v11(self) -> None:
        """The pass fixture's Produce v11 response carries error 3 and -1 offsets."""
        self.check_response(
            "produce_v11_response",
            ProduceResponse,
            11,
            1202940280,
            ProduceResponse(
                responses=(
                    TopicProduceResponse(
                        name="orange",
                        partition_responses=(
                            PartitionProduceResponse(
                                index=720,
                                error_code=3,
                                base_offset=-1,
                                log_append_time_ms=-1,
                                log_start_offset=-1,
                                record_errors=(),
                                error_message=None,
                            ),
                        ),
                    ),
                ),
                throttle_time_ms=0,
            ),
        )


class FixtureFileTests(SynchronousTestCase):
    """The commented hex loader."""

    def test_comments_and_whitespace(self) -> None:
        """C{#} comments and all whitespace are ignored."""
        from tests.support import parse_hex

        self.assertEqual(parse_hex("# title\n00 01  # one\n\t0a0B\n"), b"\x00\x01\x0a\x0b")

    def test_every_fixture_is_whole_frames(self) -> None:
        """Every frame fixture parses into complete length-prefixed frames."""
        from tests.support import FIXTURES

        # records_*.hex hold log segments (record batches), not request frames.
        names = sorted(p.stem for p in FIXTURES.glob("*.hex") if not p.stem.startswith("records_"))
        self.assertTrue(names)
        for name in names:
            with self.subTest(name=name):
                self.assertTrue(unframe(load_hex(name)))
