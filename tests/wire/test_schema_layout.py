"""Tests for L{kafkatwist.wire.schema}: field layout on the wire and compiled-codec caching."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ProtocolViolation
from kafkatwist.messages.api_versions import (
    ApiVersion,
    ApiVersionsRequest,
    ApiVersionsResponse,
)
from kafkatwist.messages.describe_topic_partitions import (
    Cursor,
    DescribeTopicPartitionsRequest,
    TopicRequest,
)
from kafkatwist.messages.fetch import (
    FetchRequest,
)
from kafkatwist.messages.metadata import MetadataRequest, MetadataRequestTopic
from kafkatwist.messages.produce import PartitionProduceData, ProduceRequest, TopicProduceData
from kafkatwist.wire import schema
from kafkatwist.wire.primitives import Reader, Writer
from kafkatwist.wire.schema import decode, encode_bytes
from tests.strategies import valid_versions

from .support import round_trip


class LayoutTests(SynchronousTestCase):
    """Nullable structs and arrays, compact versus legacy encodings."""

    def test_nullable_struct(self) -> None:
        """A nullable struct is prefixed by -1 (null) or 1 (present)."""
        request = DescribeTopicPartitionsRequest(topics=(TopicRequest(name="a"),))
        self.assertEqual(
            round_trip(self, DescribeTopicPartitionsRequest, 0, request),
            bytes.fromhex("02026100000007d0ff00"),
        )
        request = DescribeTopicPartitionsRequest(cursor=Cursor(topic_name="t", partition_index=2))
        self.assertEqual(
            round_trip(self, DescribeTopicPartitionsRequest, 0, request),
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
        round_trip(self, MetadataRequest, 10, request)
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
            round_trip(self, AlterClientQuotasRequest, version, AlterClientQuotasRequest())


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
            (1, "request", "0-18", "12+"),
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
