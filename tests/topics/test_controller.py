"""Tests for L{kafkatwist.topics.controller}: topic changes as KRaft records."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.kraft import RESOURCE_BROKER, RESOURCE_TOPIC, KRaftMetadataStore
from kafkatwist.topics.controller import MAX_PARTITIONS
from tests.storage.support import temp_dir
from tests.topics.support import file_broker


class CreateTopicTests(SynchronousTestCase):
    """C{check_new_topic} and C{create_topic}."""

    def setUp(self) -> None:
        self.log_dir = temp_dir(self)
        self.broker = file_broker(
            self, self.log_dir, {"num.partitions": "3", "default.replication.factor": "1"}
        )
        self.controller = self.broker.controller

    def refused(self, code: ErrorCode, name: str, *args: object, **kw: object) -> str:
        """The message C{check_new_topic} refuses with, checking its code."""
        with self.assertRaises(KafkaError) as raised:
            self.controller.check_new_topic(name, *args, **kw)  # type: ignore[arg-type]
        self.assertEqual(raised.exception.code, code)
        return raised.exception.message or ""

    def test_defaults_from_config(self) -> None:
        """-1 partitions and replicas mean num.partitions and default.replication.factor."""
        self.assertEqual(self.controller.check_new_topic("t", -1, -1), (3, 1))
        topic = self.successResultOf(self.controller.create_topic("t"))
        self.assertEqual(sorted(topic.partitions), [0, 1, 2])

    def test_creates_records_and_logs(self) -> None:
        """A created topic is in the image, led by this broker, with a log per partition."""
        topic = self.successResultOf(self.controller.create_topic("t", 2))
        self.assertIs(self.broker.metadata.image.topics["t"], topic)
        for p, state in topic.partitions.items():
            self.assertEqual((state.leader, state.replicas, state.isr), (1, (1,), (1,)))
            self.assertIsNotNone(self.broker.logs.get("t", p))

    def test_configs_recorded(self) -> None:
        """A topic's configs are ConfigRecords: the image holds them, None values are skipped."""
        self.successResultOf(
            self.controller.create_topic(
                "t", 1, configs={"retention.ms": "1000", "cleanup.policy": None}
            )
        )
        self.assertEqual(self.broker.metadata.topic_configs("t"), {"retention.ms": "1000"})

    def test_invalid_config(self) -> None:
        """An invalid topic config is INVALID_CONFIG."""
        self.refused(ErrorCode.INVALID_CONFIG, "t", 1, 1, configs={"retention.ms": "soon"})

    def test_invalid_names(self) -> None:
        """Illegal names are INVALID_TOPIC_EXCEPTION with Kafka's reason."""
        for name in ("", ".", "..", "a b", "x" * 250):
            self.refused(ErrorCode.INVALID_TOPIC_EXCEPTION, name, 1, 1)

    def test_existing_name(self) -> None:
        """An existing topic is TOPIC_ALREADY_EXISTS."""
        self.successResultOf(self.controller.create_topic("t", 1))
        message = self.refused(ErrorCode.TOPIC_ALREADY_EXISTS, "t", 1, 1)
        self.assertEqual(message, "Topic 't' already exists.")

    def test_name_being_created(self) -> None:
        """A topic whose records are still being written already exists for a second request."""
        pending: list[Deferred[object]] = []
        metadata = self.broker.metadata
        assert isinstance(metadata, KRaftMetadataStore)

        def later(fn: object) -> Deferred[object]:
            d: Deferred[object] = Deferred()
            pending.append(d)
            return d

        metadata.run_blocking = later
        self.controller.create_topic("t", 1)
        self.refused(ErrorCode.TOPIC_ALREADY_EXISTS, "t", 1, 1)

    def test_colliding_names(self) -> None:
        """'.' and '_' collide: a name differing only in them is INVALID_TOPIC_EXCEPTION."""
        self.successResultOf(self.controller.create_topic("a.b", 1))
        message = self.refused(ErrorCode.INVALID_TOPIC_EXCEPTION, "a_b", 1, 1)
        self.assertEqual(message, "Topic 'a_b' collides with existing topic: a.b")

    def test_partition_counts(self) -> None:
        """Zero or too many partitions are INVALID_PARTITIONS."""
        self.refused(ErrorCode.INVALID_PARTITIONS, "t", 0, 1)
        self.refused(ErrorCode.INVALID_PARTITIONS, "t", MAX_PARTITIONS + 1, 1)

    def test_replication_factor(self) -> None:
        """One broker: a replication factor of 0 or above 1 is INVALID_REPLICATION_FACTOR."""
        self.refused(ErrorCode.INVALID_REPLICATION_FACTOR, "t", 1, 0)
        message = self.refused(ErrorCode.INVALID_REPLICATION_FACTOR, "t", 1, 2)
        self.assertIn("only 1 broker(s) are registered", message)

    def test_assignments(self) -> None:
        """Assignments must be consecutive, name only this broker, and not come with counts."""
        self.assertEqual(self.controller.check_new_topic("t", -1, -1, [(0, [1]), (1, [1])]), (2, 1))
        self.refused(ErrorCode.INVALID_REQUEST, "t", 2, -1, [(0, [1])])
        self.refused(ErrorCode.INVALID_REPLICA_ASSIGNMENT, "t", -1, -1, [(1, [1])])
        self.refused(ErrorCode.INVALID_REPLICA_ASSIGNMENT, "t", -1, -1, [(0, [2])])

    def test_survives_reload(self) -> None:
        """Topics, partitions and configs are recovered by replaying the metadata log."""
        self.successResultOf(self.controller.create_topic("t", 2, configs={"retention.ms": "7"}))
        topic = self.broker.metadata.image.topics["t"]
        self.successResultOf(self.controller.create_partitions(topic, 4))
        reloaded = KRaftMetadataStore(self.log_dir)
        image = self.successResultOf(reloaded.load())
        again = image.topics["t"]
        self.assertEqual((again.topic_id, sorted(again.partitions)), (topic.topic_id, [0, 1, 2, 3]))
        self.assertEqual(again.configs, {"retention.ms": "7"})


class DeleteTopicTests(SynchronousTestCase):
    """C{delete_topic}."""

    def setUp(self) -> None:
        self.log_dir = temp_dir(self)
        self.broker = file_broker(self, self.log_dir)
        self.controller = self.broker.controller

    def test_removes_topic_and_logs(self) -> None:
        """A deleted topic leaves the image and its logs are deleted."""
        topic = self.successResultOf(self.controller.create_topic("t", 2))
        self.successResultOf(self.controller.delete_topic(topic))
        self.assertNotIn("t", self.broker.metadata.image.topics)
        self.assertIsNone(self.broker.logs.get("t", 0))
        image = self.successResultOf(KRaftMetadataStore(self.log_dir).load())
        self.assertNotIn("t", image.topics)

    def test_recreate_after_delete(self) -> None:
        """A deleted name can be created again, with a new topic id."""
        topic = self.successResultOf(self.controller.create_topic("t", 1))
        self.successResultOf(self.controller.delete_topic(topic))
        again = self.successResultOf(self.controller.create_topic("t", 1))
        self.assertNotEqual(again.topic_id, topic.topic_id)

    def test_deletion_in_progress(self) -> None:
        """A topic being deleted cannot be deleted again or grown."""
        topic = self.successResultOf(self.controller.create_topic("t", 1))
        metadata = self.broker.metadata
        assert isinstance(metadata, KRaftMetadataStore)
        metadata.run_blocking = lambda fn: Deferred()
        self.controller.delete_topic(topic)
        with self.assertRaises(KafkaError) as raised:
            self.controller.delete_topic(topic)
        self.assertEqual(raised.exception.code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        with self.assertRaises(KafkaError) as raised:
            self.controller.check_new_partitions(topic, 2)
        self.assertEqual(raised.exception.code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


class PartitionsAndConfigsTests(SynchronousTestCase):
    """C{check_new_partitions}, C{create_partitions} and C{set_configs}."""

    def setUp(self) -> None:
        self.log_dir = temp_dir(self)
        self.broker = file_broker(self, self.log_dir)
        self.controller = self.broker.controller
        self.topic = self.successResultOf(self.controller.create_topic("t", 2))

    def check(self, count: int, assignments: list[list[int]] | None = None) -> ErrorCode:
        try:
            self.controller.check_new_partitions(self.topic, count, assignments)
        except KafkaError as e:
            return e.code
        return ErrorCode.NONE

    def test_create_partitions(self) -> None:
        """New partitions are added to the image and get logs."""
        topic = self.successResultOf(self.controller.create_partitions(self.topic, 4))
        self.assertEqual(sorted(topic.partitions), [0, 1, 2, 3])
        self.assertIsNotNone(self.broker.logs.get("t", 3))

    def test_checks(self) -> None:
        """Only an increase is valid; assignments must match the added count and this broker."""
        self.assertEqual(self.check(2), ErrorCode.INVALID_PARTITIONS)
        self.assertEqual(self.check(1), ErrorCode.INVALID_PARTITIONS)
        self.assertEqual(self.check(MAX_PARTITIONS + 1), ErrorCode.INVALID_PARTITIONS)
        self.assertEqual(self.check(3, [[1], [1]]), ErrorCode.INVALID_REPLICA_ASSIGNMENT)
        self.assertEqual(self.check(3, [[2]]), ErrorCode.INVALID_REPLICA_ASSIGNMENT)
        self.assertEqual(self.check(3, [[1]]), ErrorCode.NONE)

    def test_growth_being_written_counts(self) -> None:
        """A request sees the partitions an earlier one is still writing."""
        metadata = self.broker.metadata
        assert isinstance(metadata, KRaftMetadataStore)
        metadata.run_blocking = lambda fn: Deferred()
        self.controller.create_partitions(self.topic, 3)
        self.assertEqual(self.check(3), ErrorCode.INVALID_PARTITIONS)
        self.assertEqual(self.check(4), ErrorCode.NONE)

    def test_set_configs(self) -> None:
        """Config changes are ConfigRecords; None deletes a key; they survive a reload."""
        self.successResultOf(
            self.controller.set_configs(RESOURCE_TOPIC, "t", {"retention.ms": "5", "a": None})
        )
        self.successResultOf(
            self.controller.set_configs(RESOURCE_BROKER, "", {"log.retention.ms": "9"})
        )
        self.successResultOf(
            self.controller.set_configs(RESOURCE_TOPIC, "t", {"retention.ms": None})
        )
        image = self.successResultOf(KRaftMetadataStore(self.log_dir).load())
        self.assertEqual(image.topics["t"].configs, {})
        self.assertEqual(image.configs[(RESOURCE_BROKER, "")], {"log.retention.ms": "9"})
