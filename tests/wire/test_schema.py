"""Tests for L{kafkatwist.wire.schema}: compiled codecs for the generated models."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist import messages
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
    TopicRequest,
)
from kafkatwist.messages.fetch import (
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    ForgottenTopic,
    ReplicaState,
)
from kafkatwist.messages.metadata import MetadataRequest, MetadataRequestTopic, MetadataResponse
from kafkatwist.messages.produce import PartitionProduceData, ProduceRequest, TopicProduceData
from kafkatwist.wire import schema
from kafkatwist.wire.primitives import Reader, Writer
from kafkatwist.wire.schema import decode, encode_bytes
from tests.strategies import instances, top_level_classes, valid_versions

#: Examples per (class, version) in the round-trip sweep; the whole sweep of
#: about 730 (class, version) pairs stays around ten seconds.
SWEEP_EXAMPLES = 6

_SWEEP = settings(
    max_examples=SWEEP_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

TOPIC_ID = uuid.UUID("00000000-0000-4000-8000-000000000086")


def _round_trip(test: SynchronousTestCase, cls: type, version: int, obj: object) -> bytes:
    data = encode_bytes(obj, version)
    r = Reader(data)
    back: object = decode(cls, version, r)
    test.assertEqual(r.remaining, 0)
    test.assertEqual(back, obj)
    test.assertEqual(encode_bytes(back, version), data)
    return data


def _round_trip_check(test: SynchronousTestCase, cls: type, version: int):
    @_SWEEP
    @given(instances(cls, version))
    def check(obj: object) -> None:
        _round_trip(test, cls, version, obj)

    return check


def _sweep_module(module_name: str):
    def test(self: SynchronousTestCase) -> None:
        classes = [cls for name, cls in top_level_classes() if name == module_name]
        self.assertTrue(classes)
        for cls in classes:
            for version in valid_versions(cls):
                _round_trip_check(self, cls, version)()

    test.__name__ = f"test_{module_name}"
    test.__doc__ = (
        f"Every message of {module_name} round-trips at every version in its valid range."
    )
    return test


class RoundTripSweepTests(SynchronousTestCase):
    """Hypothesis instances of every generated message survive encode then decode."""

    for _name in messages.MODULES:
        locals()[f"test_{_name}"] = _sweep_module(_name)
    del _name

    def test_sweep_covers_every_module(self) -> None:
        """The sweep has one test per generated module, and every module has a schema."""
        names = {name for name, _ in top_level_classes()}
        self.assertEqual(names, set(messages.MODULES))
        for name in messages.MODULES:
            self.assertTrue(callable(getattr(self, f"test_{name}")))


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
                    _round_trip(self, cls, version, cls())


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
        data = _round_trip(self, ApiVersionsResponse, 3, response)
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
        data = _round_trip(self, ApiVersionsResponse, 4, response)
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
        data = _round_trip(self, FetchRequest, 15, request)
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
        _round_trip(self, FetchRequest, 17, request)

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


class LayoutTests(SynchronousTestCase):
    """Nullable structs and arrays, compact versus legacy encodings."""

    def test_nullable_struct(self) -> None:
        """A nullable struct is prefixed by -1 (null) or 1 (present)."""
        request = DescribeTopicPartitionsRequest(topics=(TopicRequest(name="a"),))
        self.assertEqual(
            _round_trip(self, DescribeTopicPartitionsRequest, 0, request),
            bytes.fromhex("02026100000007d0ff00"),
        )
        request = DescribeTopicPartitionsRequest(cursor=Cursor(topic_name="t", partition_index=2))
        self.assertEqual(
            _round_trip(self, DescribeTopicPartitionsRequest, 0, request),
            bytes.fromhex("01000007d0010274000000020000"),
        )

    def test_nullable_array(self) -> None:
        """A nullable array is -1 (legacy) or 0 (compact) when null."""
        self.assertEqual(encode_bytes(MetadataRequest(topics=None), 1), b"\xff\xff\xff\xff")
        self.assertEqual(encode_bytes(MetadataRequest(topics=None), 9)[:1], b"\x00")
        self.assertIsNone(
            decode(MetadataRequest, 9, encode_bytes(MetadataRequest(topics=None), 9)).topics
        )

    def test_null_in_non_nullable_array(self) -> None:
        """A null array where the version does not allow one is a ProtocolViolation."""
        self.assertRaises(ProtocolViolation, decode, MetadataRequest, 0, b"\xff\xff\xff\xff")

    def test_nullable_from_a_version(self) -> None:
        """Nullability follows the field's nullable versions."""
        request = MetadataRequest(topics=(MetadataRequestTopic(name=None),))
        _round_trip(self, MetadataRequest, 10, request)
        self.assertRaises(
            ProtocolViolation, decode, MetadataRequest, 9, bytes.fromhex("020000000000")
        )

    def test_compact_versus_legacy(self) -> None:
        """Flexible versions use compact lengths; earlier ones use int16/int32 lengths."""
        request = ApiVersionsRequest(client_software_name="ab", client_software_version="c")
        self.assertEqual(encode_bytes(request, 3), bytes.fromhex("036162026300"))
        response = ApiVersionsResponse(api_keys=(ApiVersion(api_key=1, max_version=2),))
        self.assertEqual(
            encode_bytes(response, 2), bytes.fromhex("00000000000100010000000200000000")
        )

    def test_records_kept_as_views(self) -> None:
        """Records decode as a view into the input; a sequence of buffers encodes joined."""
        request = ProduceRequest(
            topic_data=(
                TopicProduceData(
                    name="t",
                    partition_data=(PartitionProduceData(index=0, records=[b"ab", b"cd"]),),
                ),
            )
        )
        data = encode_bytes(request, 11)
        back = decode(ProduceRequest, 11, data)
        records = back.topic_data[0].partition_data[0].records
        self.assertIsInstance(records, memoryview)
        self.assertEqual(records, b"abcd")

    def test_trailing_bytes_left_in_reader(self) -> None:
        """Decoding stops at the end of the body; trailing bytes stay in the reader."""
        r = Reader(encode_bytes(ApiVersionsRequest(), 0) + b"xyz")
        self.assertEqual(decode(ApiVersionsRequest, 0, r), ApiVersionsRequest())
        self.assertEqual(r.remaining, 3)

    def test_float64(self) -> None:
        """float64 fields round-trip through a schema that uses them."""
        from kafkatwist.messages.alter_client_quotas import AlterClientQuotasRequest

        for version in valid_versions(AlterClientQuotasRequest):
            _round_trip(self, AlterClientQuotasRequest, version, AlterClientQuotasRequest())


class CompileTests(SynchronousTestCase):
    """L{schema.compile} builds a codec once per (class, version, flexible)."""

    def test_cached(self) -> None:
        """Compiling the same class and version twice returns the same functions."""
        self.assertIs(schema.compile(FetchRequest, 12), schema.compile(FetchRequest, 12))
        self.assertIsNot(schema.compile(FetchRequest, 12)[0], schema.compile(FetchRequest, 11)[0])

    def test_nested_by_flexibility(self) -> None:
        """A nested struct gets separate codecs for flexible and non-flexible parents."""
        self.assertIsNot(
            schema.compile(ApiVersion, 3, True)[0], schema.compile(ApiVersion, 3, False)[0]
        )
        w = Writer()
        schema.compile(ApiVersion, 3, True)[1](w, ApiVersion(api_key=1))
        self.assertEqual(w.getvalue(), bytes.fromhex("00010000000000"))

    def test_invalid_version(self) -> None:
        """Compiling a top-level schema at a version outside its valid range is refused."""
        self.assertRaises(ValueError, schema.compile, ApiVersionsRequest, 5)
        self.assertRaises(ValueError, schema.compile, ApiVersionsRequest, -1)

    def test_nested_needs_flexible(self) -> None:
        """A nested struct has no message info of its own."""
        self.assertRaises(TypeError, schema.message_info, ApiVersion)
        self.assertRaises(TypeError, schema.compile, ApiVersion, 0)

    def test_message_info(self) -> None:
        """Top-level schemas carry their key, kind and version ranges."""
        info = schema.message_info(FetchRequest)
        self.assertEqual(
            (info.api_key, info.kind, str(info.valid), str(info.flexible)),
            (1, "request", "0-17", "12+"),
        )

    def test_field_specs_in_wire_order(self) -> None:
        """Field specs follow the class's field order, which is the JSON order."""
        names = [spec.name for _, spec in schema.field_specs(ApiVersionsResponse)]
        self.assertEqual(
            names,
            [
                "error_code",
                "api_keys",
                "throttle_time_ms",
                "supported_features",
                "finalized_features_epoch",
                "finalized_features",
                "zk_migration_ready",
            ],
        )


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
                data = _round_trip(self, cls, version, obj)
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
