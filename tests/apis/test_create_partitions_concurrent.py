"""CreatePartitions requests that overlap while their metadata records are being written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import create_partitions, delete_topics
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.create_partitions import CreatePartitionsRequest, CreatePartitionsTopic
from kafkatwist.messages.delete_topics import DeleteTopicsRequest
from tests.brokers import call, make_broker, metadata_of


def grow(topic: str, count: int) -> CreatePartitionsRequest:
    return CreatePartitionsRequest(
        topics=(CreatePartitionsTopic(name=topic, count=count, assignments=None),),
        timeout_ms=1000,
        validate_only=False,
    )


class OverlappingCreatePartitionsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))
        # From here on, metadata writes wait,
        # as they do while a thread pool fsyncs them; release() lets them through.
        self.writes: list[tuple[Callable[[], Any], Deferred[Any]]] = []

        def held(fn: Callable[[], Any]) -> Deferred[Any]:
            d: Deferred[Any] = Deferred()
            self.writes.append((fn, d))
            return d

        metadata_of(self.broker).run_blocking = held

    def release(self) -> None:
        while self.writes:
            fn, d = self.writes.pop(0)
            d.callback(fn())

    def codes(self, d: Deferred[Any]) -> list[int]:
        return [r.error_code for r in self.successResultOf(d).results]

    def partitions(self) -> list[int]:
        return sorted(self.broker.metadata.image.topics["t"].partitions)

    def test_second_request_sees_the_first(self) -> None:
        """A request for fewer partitions than one still being written is INVALID_PARTITIONS."""
        first = call(self.broker, create_partitions.SPEC, grow("t", 4), 3)
        second = call(self.broker, create_partitions.SPEC, grow("t", 3), 3)
        self.release()
        self.assertEqual(self.codes(first), [ErrorCode.NONE])
        self.assertEqual(self.codes(second), [ErrorCode.INVALID_PARTITIONS])
        self.assertEqual(self.partitions(), [0, 1, 2, 3])

    def test_second_request_grows_further(self) -> None:
        """A larger count adds only the partitions beyond the first request's."""
        first = call(self.broker, create_partitions.SPEC, grow("t", 4), 3)
        second = call(self.broker, create_partitions.SPEC, grow("t", 6), 3)
        # Metadata writes are serialised: the second waits for the first.
        self.assertEqual(len(self.writes), 1)
        self.release()
        self.assertEqual(self.codes(first), [ErrorCode.NONE])
        self.assertEqual(self.codes(second), [ErrorCode.NONE])
        self.assertEqual(self.partitions(), [0, 1, 2, 3, 4, 5])
        # TopicRecord and partition 0, then partitions 1-3, then 4-5: none written twice.
        self.assertEqual(metadata_of(self.broker).next_offset, 2 + 3 + 2)

    def test_topic_being_deleted(self) -> None:
        """Growing a topic whose deletion is being written answers UNKNOWN_TOPIC_OR_PARTITION."""
        deleting = call(
            self.broker,
            delete_topics.SPEC,
            DeleteTopicsRequest(topic_names=("t",), timeout_ms=1000),
            5,
        )
        grown = call(self.broker, create_partitions.SPEC, grow("t", 4), 3)
        self.release()
        self.assertEqual([r.error_code for r in self.successResultOf(deleting).responses], [0])
        self.assertEqual(self.codes(grown), [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION])
        self.assertNotIn("t", self.broker.metadata.image.topics)

    def test_topic_deleted_while_growing(self) -> None:
        """A deletion sent while new partitions are written is written after them; both succeed."""
        grown = call(self.broker, create_partitions.SPEC, grow("t", 4), 3)
        deleting = call(
            self.broker,
            delete_topics.SPEC,
            DeleteTopicsRequest(topic_names=("t",), timeout_ms=1000),
            5,
        )
        # Metadata writes are serialised, in request order.
        self.assertEqual(len(self.writes), 1)
        self.release()
        self.assertEqual(self.codes(grown), [ErrorCode.NONE])
        self.assertEqual([r.error_code for r in self.successResultOf(deleting).responses], [0])
        self.assertNotIn("t", self.broker.metadata.image.topics)
