"""DescribeTopicPartitions handler tests (KIP-966 semantics)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import describe_topic_partitions as dtp
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_topic_partitions import (
    Cursor,
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
    TopicRequest,
)
from kafkatwist.wire.primitives import ZERO_UUID
from tests.brokers import call, make_broker


class DescribeTopicPartitionsTests(SynchronousTestCase):
    """Topics, errors and pagination."""

    def setUp(self) -> None:
        self.broker = make_broker()
        controller = self.broker.controller
        for name, n in (("bar", 1), ("baz", 2), ("foo", 3)):
            self.successResultOf(controller.create_topic(name, n))

    def describe(
        self, *names: str, limit: int = 2000, cursor: Cursor | None = None
    ) -> DescribeTopicPartitionsResponse:
        request = DescribeTopicPartitionsRequest(
            topics=tuple(TopicRequest(name=n) for n in names),
            response_partition_limit=limit,
            cursor=cursor,
        )
        response: DescribeTopicPartitionsResponse = self.successResultOf(
            call(self.broker, dtp.SPEC, request, 0)
        )
        return response

    def test_unknown_topic(self) -> None:
        """An unknown topic gets error 3, the null uuid, its name and no partitions."""
        (topic,) = self.describe("unknown-topic-qux").topics
        self.assertEqual(topic.error_code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        self.assertEqual(topic.topic_id, ZERO_UUID)
        self.assertEqual(topic.name, "unknown-topic-qux")
        self.assertEqual(topic.partitions, ())

    def test_invalid_name(self) -> None:
        """An unknown topic with an illegal name gets INVALID_TOPIC_EXCEPTION."""
        (topic,) = self.describe("bad name!").topics
        self.assertEqual(topic.error_code, ErrorCode.INVALID_TOPIC_EXCEPTION)

    def test_sorted_topics_and_partitions(self) -> None:
        """Topics come back sorted by name, partitions in index order, with replica details."""
        response = self.describe("foo", "bar", "baz")
        self.assertEqual([t.name for t in response.topics], ["bar", "baz", "foo"])
        foo = response.topics[2]
        self.assertEqual(foo.topic_id, self.broker.metadata.image.topics["foo"].topic_id)
        self.assertEqual([p.partition_index for p in foo.partitions], [0, 1, 2])
        p = foo.partitions[0]
        self.assertEqual((p.error_code, p.leader_id, p.leader_epoch), (0, 1, 0))
        self.assertEqual((p.replica_nodes, p.isr_nodes), ((1,), (1,)))
        self.assertEqual(
            (p.eligible_leader_replicas, p.last_known_elr, p.offline_replicas), ((), (), ())
        )
        self.assertEqual(foo.topic_authorized_operations, 0x0DF8)
        self.assertFalse(foo.is_internal)
        self.assertIsNone(response.next_cursor)

    def test_empty_list_describes_all(self) -> None:
        """An empty topic list describes every topic."""
        self.assertEqual([t.name for t in self.describe().topics], ["bar", "baz", "foo"])

    def test_pagination(self) -> None:
        """The partition limit cuts a page and next_cursor says where the next one starts."""
        first = self.describe("foo", "bar", "baz", limit=2)
        self.assertEqual(
            [(t.name, len(t.partitions)) for t in first.topics], [("bar", 1), ("baz", 1)]
        )
        self.assertEqual(first.next_cursor, Cursor(topic_name="baz", partition_index=1))
        second = self.describe("foo", "bar", "baz", limit=2, cursor=first.next_cursor)
        self.assertEqual(
            [(t.name, [p.partition_index for p in t.partitions]) for t in second.topics],
            [("baz", [1]), ("foo", [0])],
        )
        self.assertEqual(second.next_cursor, Cursor(topic_name="foo", partition_index=1))

    def test_limit_at_topic_boundary(self) -> None:
        """A page ending exactly at a topic's end points the cursor at the next topic's start."""
        page = self.describe("bar", "foo", limit=1)
        self.assertEqual([t.name for t in page.topics], ["bar"])
        self.assertEqual(page.next_cursor, Cursor(topic_name="foo", partition_index=0))

    def test_cursor_topic_must_be_requested(self) -> None:
        """A cursor naming a topic outside the request is INVALID_REQUEST."""
        request = DescribeTopicPartitionsRequest(
            topics=(TopicRequest(name="foo"),), cursor=Cursor(topic_name="bar", partition_index=0)
        )
        f = self.failureResultOf(call(self.broker, dtp.SPEC, request, 0))
        self.assertEqual(f.value.code, ErrorCode.INVALID_REQUEST)
