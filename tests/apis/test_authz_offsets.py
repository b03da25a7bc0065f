"""ListOffsets, OffsetForLeaderEpoch, DeleteRecords and DescribeProducers authorize as Kafka."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import (
    delete_records,
    describe_producers,
    list_offsets,
    offset_for_leader_epoch,
)
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.delete_records import (
    DeleteRecordsPartition,
    DeleteRecordsRequest,
    DeleteRecordsResponse,
    DeleteRecordsTopic,
)
from kafkatwist.messages.describe_producers import DescribeProducersRequest, TopicRequest
from kafkatwist.messages.list_offsets import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsResponse,
    ListOffsetsTopic,
)
from kafkatwist.messages.offset_for_leader_epoch import (
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
    OffsetForLeaderPartition,
    OffsetForLeaderTopic,
)
from kafkatwist.security.acl import AclOperation, PatternType, ResourceType
from kafkatwist.wire import schema
from tests.brokers import log_of, make_broker
from tests.offsets_support import produce
from tests.security.authz_support import acl, authorize, call_as, on_cluster

D = AclOperation.DESCRIBE
DENIED = ErrorCode.TOPIC_AUTHORIZATION_FAILED


class OffsetsAuthorizationTests(SynchronousTestCase):
    """Topics C{t} and C{app.orders}, three records each; alice asks."""

    def setUp(self) -> None:
        self.broker = make_broker()
        for name in ("t", "app.orders"):
            self.successResultOf(self.broker.controller.create_topic(name, 1))
            produce(self, self.broker, name, 0, [[1, 2, 3]])

    def list_offsets(self, version: int, *names: str) -> dict[str, tuple[int, int]]:
        """(error code, offset) of partition 0 of each topic, for the latest offset."""
        request = ListOffsetsRequest(
            replica_id=-1,
            topics=tuple(
                ListOffsetsTopic(
                    name=n, partitions=(ListOffsetsPartition(partition_index=0, timestamp=-1),)
                )
                for n in names
            ),
        )
        response: ListOffsetsResponse = self.successResultOf(
            call_as(self.broker, list_offsets.SPEC, request, version)
        )
        schema.encode_bytes(response, version)
        out = {}
        for t in response.topics:
            p = t.partitions[0]
            out[t.name] = (p.error_code, p.old_style_offsets[0] if version == 0 else p.offset)
        return out

    def test_list_offsets_needs_describe(self) -> None:
        """ListOffsets answers topics with DESCRIBE; the others TOPIC_AUTHORIZATION_FAILED."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "app.", AclOperation.READ, pattern=PatternType.PREFIXED),
        )
        for version in (1, 7, 11):
            self.assertEqual(
                self.list_offsets(version, "t", "app.orders", "nope"),
                {"t": (DENIED, -1), "app.orders": (0, 3), "nope": (DENIED, -1)},
            )

    def test_list_offsets_v0(self) -> None:
        """v0 refuses the same way, with no offsets."""
        authorize(self.broker, acl(ResourceType.TOPIC, "app.orders", D))
        request = ListOffsetsRequest(
            replica_id=-1,
            topics=(
                ListOffsetsTopic(
                    name="t",
                    partitions=(ListOffsetsPartition(partition_index=0, timestamp=-1),),
                ),
            ),
        )
        response: ListOffsetsResponse = self.successResultOf(
            call_as(self.broker, list_offsets.SPEC, request, 0)
        )
        (p,) = response.topics[0].partitions
        self.assertEqual((p.error_code, p.old_style_offsets), (DENIED, ()))

    def epochs(self, *names: str, replica_id: int = -1) -> dict[str, tuple[int, int]]:
        """(error code, end offset) of partition 0 of each topic, for epoch 0."""
        request = OffsetForLeaderEpochRequest(
            replica_id=replica_id,
            topics=tuple(
                OffsetForLeaderTopic(
                    topic=n, partitions=(OffsetForLeaderPartition(partition=0, leader_epoch=0),)
                )
                for n in names
            ),
        )
        response: OffsetForLeaderEpochResponse = self.successResultOf(
            call_as(self.broker, offset_for_leader_epoch.SPEC, request, 4)
        )
        return {
            t.topic: (t.partitions[0].error_code, t.partitions[0].end_offset)
            for t in response.topics
        }

    def test_offset_for_leader_epoch_describe(self) -> None:
        """A consumer needs DESCRIBE on each topic (KIP-320), else TOPIC_AUTHORIZATION_FAILED."""
        authorize(self.broker, acl(ResourceType.TOPIC, "app.orders", D))
        self.assertEqual(
            self.epochs("t", "app.orders", "nope"),
            {"t": (DENIED, -1), "app.orders": (0, 3), "nope": (DENIED, -1)},
        )

    def test_offset_for_leader_epoch_cluster_action(self) -> None:
        """CLUSTER_ACTION on the cluster allows every topic, whatever the replica id."""
        authorize(self.broker, on_cluster(AclOperation.CLUSTER_ACTION))
        expected = {"t": (0, 3), "nope": (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1)}
        self.assertEqual(self.epochs("t", "nope"), expected)
        self.assertEqual(self.epochs("t", "nope", replica_id=1), expected)

    def delete(self, *names: str) -> dict[str, int]:
        request = DeleteRecordsRequest(
            topics=tuple(
                DeleteRecordsTopic(
                    name=n, partitions=(DeleteRecordsPartition(partition_index=0, offset=2),)
                )
                for n in names
            ),
            timeout_ms=1000,
        )
        response: DeleteRecordsResponse = self.successResultOf(
            call_as(self.broker, delete_records.SPEC, request, 2)
        )
        return {t.name: t.partitions[0].error_code for t in response.topics}

    def test_delete_records_needs_delete(self) -> None:
        """DeleteRecords needs DELETE on the topic: READ, WRITE or DESCRIBE are not enough."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "t", AclOperation.ALL),
            acl(ResourceType.TOPIC, "app.orders", AclOperation.READ),
            acl(ResourceType.TOPIC, "app.orders", AclOperation.WRITE),
        )
        self.assertEqual(
            self.delete("t", "app.orders", "nope"),
            {"t": 0, "app.orders": DENIED, "nope": DENIED},
        )
        self.assertEqual(log_of(self.broker, "t", 0).log_start_offset, 2)
        self.assertEqual(log_of(self.broker, "app.orders", 0).log_start_offset, 0)

    def producers(self, *names: str) -> dict[str, tuple[int, str | None]]:
        request = DescribeProducersRequest(
            topics=tuple(TopicRequest(name=n, partition_indexes=(0,)) for n in names)
        )
        response = self.successResultOf(call_as(self.broker, describe_producers.SPEC, request, 0))
        schema.encode_bytes(response, 0)
        return {
            t.name: (t.partitions[0].error_code, t.partitions[0].error_message)
            for t in response.topics
        }

    def test_describe_producers_needs_read(self) -> None:
        """DescribeProducers needs READ; errors in Kafka's order, with Kafka's messages."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "app.orders", AclOperation.READ),
            acl(ResourceType.TOPIC, "t", D),
        )
        self.assertEqual(
            self.producers("t", "app.orders", "nope", "bad name"),
            {
                "t": (DENIED, "Topic authorization failed."),
                "app.orders": (0, None),
                "nope": (DENIED, "Topic authorization failed."),
                "bad name": (
                    ErrorCode.INVALID_TOPIC_EXCEPTION,
                    'Topic name "bad name" is illegal, it contains a character other than '
                    "ASCII alphanumerics, '.', '_' and '-'",
                ),
            },
        )

    def test_describe_producers_unknown_topic_readable(self) -> None:
        """A readable missing topic is UNKNOWN_TOPIC_OR_PARTITION, with Kafka's message."""
        authorize(self.broker, acl(ResourceType.TOPIC, "*", AclOperation.READ))
        self.assertEqual(
            self.producers("nope"),
            {
                "nope": (
                    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                    "This server does not host this topic-partition.",
                )
            },
        )
