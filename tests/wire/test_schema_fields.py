"""Tests for L{kafkatwist.wire.schema}: defaults, tagged fields and fields absent at a version."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ProtocolViolation
from kafkatwist.messages.api_versions import (
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
    SupportedFeatureKey,
)
from kafkatwist.messages.fetch import (
    FetchPartition,
    FetchRequest,
    FetchTopic,
    ReplicaState,
)
from kafkatwist.messages.metadata import MetadataRequest
from kafkatwist.wire.schema import decode, encode_bytes
from tests.strategies import top_level_classes, valid_versions

from .support import TOPIC_ID, round_trip


class DefaultsTests(SynchronousTestCase):
    """Fields absent at a version decode to their defaults."""

    def test_api_versions_v0(self) -> None:
        """A v0 ApiVersions response decodes with the v1+ and tagged fields at their defaults."""
        data = bytes.fromhex("000000000001001200000004")
        response = decode(ApiVersionsResponse, 0, data)
        self.assertEqual(
            response,
            ApiVersionsResponse(api_keys=(ApiVersion(api_key=18, min_version=0, max_version=4),)),
        )
        self.assertEqual(response.throttle_time_ms, 0)
        self.assertEqual(response.finalized_features_epoch, -1)
        self.assertEqual(response.supported_features, ())
        self.assertIs(response.zk_migration_ready, False)

    def test_fetch_v0(self) -> None:
        """A v0 Fetch request decodes with Kafka's JSON defaults for every later field."""
        data = bytes.fromhex("ffffffff000001f40000000100000000")
        request = decode(FetchRequest, 0, data)
        self.assertEqual(request.replica_id, -1)
        self.assertEqual(request.max_wait_ms, 500)
        self.assertEqual(request.min_bytes, 1)
        self.assertEqual(request.max_bytes, 0x7FFFFFFF)
        self.assertEqual(request.isolation_level, 0)
        self.assertEqual(request.session_id, 0)
        self.assertEqual(request.session_epoch, -1)
        self.assertEqual(request.rack_id, "")
        self.assertIsNone(request.cluster_id)
        self.assertEqual(request.replica_state, ReplicaState(replica_id=-1, replica_epoch=-1))
        self.assertEqual(request.forgotten_topics_data, ())

    def test_nested_defaults(self) -> None:
        """Nested structs decode their absent fields to defaults too."""
        data = bytes.fromhex(
            "ffffffff"
            "00000000"
            "00000000"  # replica, max_wait, min_bytes
            "00000001"
            "0001"
            "61"  # topics: ["a"]
            "00000001"
            "00000003"
            "0000000000000009"
            "00000064"  # partition 3 @ 9
        )
        request = decode(FetchRequest, 0, data)
        partition = request.topics[0].partitions[0]
        self.assertEqual(request.topics[0].topic, "a")
        self.assertEqual(request.topics[0].topic_id, uuid.UUID(int=0))
        self.assertEqual(
            partition,
            FetchPartition(partition=3, fetch_offset=9, partition_max_bytes=100),
        )
        self.assertEqual(partition.current_leader_epoch, -1)
        self.assertEqual(partition.last_fetched_epoch, -1)
        self.assertEqual(partition.log_start_offset, -1)

    def test_default_instances_round_trip(self) -> None:
        """The all-defaults instance of every top-level schema round-trips at every version."""
        for _, cls in top_level_classes():
            for version in valid_versions(cls):
                with self.subTest(cls=cls.__name__, version=version):
                    round_trip(self, cls, version, cls())


class TaggedFieldTests(SynchronousTestCase):
    """Tagged fields: written only when not default; unknown tags skipped."""

    def test_defaults_not_written(self) -> None:
        """Tagged fields at their defaults leave an empty tagged-field section."""
        data = encode_bytes(ApiVersionsResponse(), 3)
        # error_code, api_keys (compact, empty), throttle_time_ms, no tags
        self.assertEqual(data, bytes.fromhex("0000010000000000"))
        data = encode_bytes(FetchRequest(), 12)
        self.assertEqual(data[-1:], b"\x00")
        self.assertEqual(decode(FetchRequest, 12, data), FetchRequest())

    def test_non_default_written(self) -> None:
        """A non-default tagged field is written as tag, size and value, and read back."""
        response = ApiVersionsResponse(finalized_features_epoch=5)
        data = round_trip(self, ApiVersionsResponse, 3, response)
        self.assertEqual(
            data,
            bytes.fromhex("000001000000000101080000000000000005"),
        )

    def test_tags_in_ascending_order(self) -> None:
        """Several tagged fields are written in ascending tag order."""
        response = ApiVersionsResponse(
            zk_migration_ready=True,
            finalized_features_epoch=1,
            supported_features=(SupportedFeatureKey(name="a", min_version=0, max_version=1),),
        )
        data = round_trip(self, ApiVersionsResponse, 4, response)
        self.assertEqual(
            data,
            bytes.fromhex(
                "0000"
                "01"
                "00000000"
                "03"  # three tagged fields
                "00"
                "08"
                "02"
                "0261"
                "0000"
                "0001"
                "00"  # tag 0: [("a", 0, 1)]
                "01"
                "08"
                "0000000000000001"  # tag 1: epoch 1
                "03"
                "01"
                "01"  # tag 3: true
            ),
        )

    def test_tagged_struct(self) -> None:
        """A tagged struct field is written with its own tagged-field section."""
        request = FetchRequest(replica_state=ReplicaState(replica_id=2, replica_epoch=3))
        data = round_trip(self, FetchRequest, 15, request)
        self.assertEqual(
            data[-16:],
            bytes.fromhex("01010d00000002000000000000000300"),
        )

    def test_tagged_in_nested_struct(self) -> None:
        """Tagged fields inside nested structs round-trip."""
        request = FetchRequest(
            topics=(
                FetchTopic(
                    topic_id=TOPIC_ID,
                    partitions=(FetchPartition(partition=1, replica_directory_id=TOPIC_ID),),
                ),
            )
        )
        round_trip(self, FetchRequest, 17, request)

    def test_unknown_tags_skipped(self) -> None:
        """Unknown tags at the top level are skipped on read."""
        body = bytes.fromhex("0a" + b"kafka-cli".hex() + "04" + b"0.1".hex())
        tags = bytes.fromhex("020502abcd0a00")
        request = decode(ApiVersionsRequest, 3, body + tags)
        self.assertEqual(
            request,
            ApiVersionsRequest(client_software_name="kafka-cli", client_software_version="0.1"),
        )

    def test_unknown_tags_among_known(self) -> None:
        """Unknown tags next to known ones are skipped and the known ones read."""
        data = bytes.fromhex("00000100000000030108000000000000000705030102030900")
        response = decode(ApiVersionsResponse, 3, data)
        self.assertEqual(response, ApiVersionsResponse(finalized_features_epoch=7))

    def test_unknown_tags_in_nested_struct(self) -> None:
        """Unknown tags in a nested struct's section are skipped."""
        data = bytes.fromhex("000002001200000004010701ff0000000000")
        response = decode(ApiVersionsResponse, 3, data)
        self.assertEqual(response.api_keys, (ApiVersion(api_key=18, min_version=0, max_version=4),))

    def test_known_tag_wrong_size(self) -> None:
        """A known tag whose declared size disagrees with its value is a ProtocolViolation."""
        data = bytes.fromhex("00000100000000010109000000000000000700")
        self.assertRaises(ProtocolViolation, decode, ApiVersionsResponse, 3, data)

    def test_unknown_tag_truncated(self) -> None:
        """An unknown tag whose size runs past the end is a ProtocolViolation."""
        data = bytes.fromhex("000001000000000109050102")
        self.assertRaises(ProtocolViolation, decode, ApiVersionsResponse, 3, data)

    def test_no_tag_section_before_flexible(self) -> None:
        """Non-flexible versions have no tagged-field section, and drop tagged values."""
        response = ApiVersionsResponse(finalized_features_epoch=5, throttle_time_ms=1)
        self.assertEqual(encode_bytes(response, 2), bytes.fromhex("00000000000000000001"))


class AbsentFieldTests(SynchronousTestCase):
    """Encoding a value into a version that lacks its field."""

    def test_non_ignorable_raises(self) -> None:
        """A non-default value in a non-ignorable field absent at this version raises."""
        request = FetchRequest(
            topics=(FetchTopic(partitions=(FetchPartition(last_fetched_epoch=5),)),)
        )
        e = self.assertRaises(ValueError, encode_bytes, request, 11)
        self.assertIn("last_fetched_epoch", str(e))
        encode_bytes(request, 12)

    def test_non_ignorable_top_level(self) -> None:
        """A removed non-ignorable top-level field raises when it is not default."""
        self.assertRaises(ValueError, encode_bytes, FetchRequest(replica_id=3), 15)
        encode_bytes(FetchRequest(replica_id=-1), 15)
        self.assertRaises(
            ValueError,
            encode_bytes,
            MetadataRequest(include_cluster_authorized_operations=True),
            11,
        )

    def test_non_ignorable_tagged(self) -> None:
        """A non-ignorable tagged field is also refused at versions before it exists."""
        request = FetchRequest(replica_state=ReplicaState(replica_id=1))
        self.assertRaises(ValueError, encode_bytes, request, 14)

    def test_ignorable_dropped(self) -> None:
        """A non-default value in an ignorable absent field is silently left out."""
        self.assertEqual(
            encode_bytes(ApiVersionsResponse(throttle_time_ms=9), 0),
            bytes.fromhex("000000000000"),
        )
        self.assertEqual(encode_bytes(ApiVersionsRequest(client_software_name="x"), 2), b"")
