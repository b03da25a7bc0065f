"""Tests for L{kafkatwist.wire.schema}: truncated or garbled bodies raise ProtocolViolation."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ProtocolViolation
from kafkatwist.messages.api_versions import (
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
    FinalizedFeatureKey,
    SupportedFeatureKey,
)
from kafkatwist.messages.describe_topic_partitions import (
    Cursor,
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
    DescribeTopicPartitionsResponsePartition,
    DescribeTopicPartitionsResponseTopic,
)
from kafkatwist.messages.fetch import (
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    ForgottenTopic,
    ReplicaState,
)
from kafkatwist.messages.metadata import MetadataResponse
from kafkatwist.messages.produce import PartitionProduceData, ProduceRequest, TopicProduceData
from kafkatwist.wire.schema import decode, encode_bytes
from tests.strategies import instances

from .support import TOPIC_ID, round_trip

#: Rich instances for the truncation tests: flexible and not, nested structs,
#: nullable structs and arrays, tagged fields, records.
RICH = [
    (
        ApiVersionsResponse,
        0,
        ApiVersionsResponse(
            api_keys=(ApiVersion(api_key=18, max_version=4), ApiVersion(api_key=1))
        ),
    ),
    (
        ApiVersionsResponse,
        4,
        ApiVersionsResponse(
            api_keys=(ApiVersion(api_key=18, max_version=4),),
            throttle_time_ms=3,
            supported_features=(SupportedFeatureKey(name="metadata.version", max_version=20),),
            finalized_features_epoch=14,
            finalized_features=(FinalizedFeatureKey(name="x", max_version_level=2),),
            zk_migration_ready=True,
        ),
    ),
    (
        ApiVersionsRequest,
        3,
        ApiVersionsRequest(client_software_name="é", client_software_version="1"),
    ),
    (
        FetchRequest,
        4,
        FetchRequest(
            max_wait_ms=500,
            topics=(
                FetchTopic(topic="t", partitions=(FetchPartition(partition=1, fetch_offset=2),)),
            ),
        ),
    ),
    (
        FetchRequest,
        17,
        FetchRequest(
            cluster_id="c",
            replica_state=ReplicaState(replica_id=1, replica_epoch=2),
            topics=(
                FetchTopic(
                    topic_id=TOPIC_ID,
                    partitions=(FetchPartition(partition=1, replica_directory_id=TOPIC_ID),),
                ),
            ),
            forgotten_topics_data=(ForgottenTopic(topic_id=TOPIC_ID, partitions=(1, 2)),),
            rack_id="r",
        ),
    ),
    (
        FetchResponse,
        16,
        FetchResponse(
            session_id=7,
            responses=(),
        ),
    ),
    (
        FetchResponse,
        11,
        FetchResponse(responses=()),
    ),
    (
        ProduceRequest,
        3,
        ProduceRequest(
            transactional_id="tx",
            acks=1,
            topic_data=(
                TopicProduceData(name="t", partition_data=(PartitionProduceData(records=b"abc"),)),
            ),
        ),
    ),
    (
        DescribeTopicPartitionsResponse,
        0,
        DescribeTopicPartitionsResponse(
            topics=(
                DescribeTopicPartitionsResponseTopic(
                    name="bar",
                    topic_id=TOPIC_ID,
                    partitions=(
                        DescribeTopicPartitionsResponsePartition(
                            replica_nodes=(1,), isr_nodes=(1,)
                        ),
                    ),
                ),
            ),
            next_cursor=Cursor(topic_name="bar", partition_index=1),
        ),
    ),
    (
        MetadataResponse,
        12,
        MetadataResponse(cluster_id="k"),
    ),
]


def _assert_every_prefix_violates(
    test: SynchronousTestCase, cls: type, version: int, data: bytes
) -> None:
    for end in range(len(data)):
        try:
            decode(cls, version, data[:end])
        except ProtocolViolation:
            continue
        test.fail(f"{cls.__name__} v{version} decoded from {end} of {len(data)} bytes")


class MalformedInputTests(SynchronousTestCase):
    """Truncated or garbled bodies raise ProtocolViolation and nothing else."""

    def test_truncated_everywhere(self) -> None:
        """A body cut at any position raises ProtocolViolation."""
        for cls, version, obj in RICH:
            with self.subTest(cls=cls.__name__, version=version):
                data = round_trip(self, cls, version, obj)
                _assert_every_prefix_violates(self, cls, version, data)

    def test_truncated_golden_fetch(self) -> None:
        """The golden Fetch v16 response body, cut anywhere, raises ProtocolViolation."""
        from tests.support import load_hex, unframe

        body = unframe(load_hex("fetch_v16_response"))[0][5:]
        decode(FetchResponse, 16, body)
        _assert_every_prefix_violates(self, FetchResponse, 16, body)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def test_truncated_random_instances(self, data: st.DataObject) -> None:
        """Random instances of a few messages, cut anywhere, raise ProtocolViolation."""
        cls, version = data.draw(
            st.sampled_from(
                [
                    (FetchRequest, 4),
                    (FetchRequest, 17),
                    (FetchResponse, 12),
                    (FetchResponse, 16),
                    (MetadataResponse, 9),
                    (DescribeTopicPartitionsResponse, 0),
                    (ApiVersionsResponse, 4),
                ]
            )
        )
        obj = data.draw(instances(cls, version))
        _assert_every_prefix_violates(self, cls, version, encode_bytes(obj, version))

    @settings(max_examples=300, deadline=None)
    @given(
        st.sampled_from(
            [
                (ApiVersionsRequest, 3),
                (ApiVersionsResponse, 0),
                (ApiVersionsResponse, 4),
                (FetchRequest, 4),
                (FetchRequest, 16),
                (FetchResponse, 16),
                (ProduceRequest, 11),
                (DescribeTopicPartitionsRequest, 0),
                (DescribeTopicPartitionsResponse, 0),
                (MetadataResponse, 12),
            ]
        ),
        st.binary(max_size=200),
    )
    def test_garbage(self, target: tuple[type, int], garbage: bytes) -> None:
        """Arbitrary bytes decode or raise ProtocolViolation, never anything else."""
        cls, version = target
        try:
            decode(cls, version, garbage)
        except ProtocolViolation:
            pass

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def test_mutated(self, data: st.DataObject) -> None:
        """Valid encodings with bytes overwritten decode or raise ProtocolViolation only."""
        cls, version = data.draw(
            st.sampled_from(
                [
                    (FetchRequest, 17),
                    (FetchResponse, 16),
                    (ApiVersionsResponse, 4),
                    (DescribeTopicPartitionsResponse, 0),
                    (ProduceRequest, 11),
                ]
            )
        )
        encoded = bytearray(encode_bytes(data.draw(instances(cls, version)), version))
        if encoded:
            for _ in range(data.draw(st.integers(1, 4))):
                i = data.draw(st.integers(0, len(encoded) - 1))
                encoded[i] = data.draw(st.integers(0, 255))
        try:
            decode(cls, version, bytes(encoded))
        except ProtocolViolation:
            pass
