"""OffsetForLeaderEpoch (api key 23) against a broker on the file engine, at every version."""

from __future__ import annotations

from kafka.protocol.consumer.offsets import OffsetForLeaderEpochRequest as ClientRequest
from kafka.protocol.consumer.offsets import OffsetForLeaderEpochResponse as ClientResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, offset_for_leader_epoch
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.offset_for_leader_epoch import (
    EpochEndOffset,
    OffsetForLeaderEpochRequest,
    OffsetForLeaderPartition,
    OffsetForLeaderTopic,
)
from kafkatwist.wire import schema
from tests.brokers import call, log_of, make_broker
from tests.offsets_support import client_roundtrip, produce

SPEC = offset_for_leader_epoch.SPEC


class OffsetForLeaderEpochTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 2))
        self.partitions = self.broker.metadata.image.topics["t"].partitions
        # Epoch 1: offsets 0-1; epoch 3: offset 2; epoch 4 (current): offsets 3-5.
        produce(self, self.broker, "t", 0, [[1, 2]], leader_epoch=1)
        produce(self, self.broker, "t", 0, [[3]], leader_epoch=3)
        produce(self, self.broker, "t", 0, [[4, 5, 6]], leader_epoch=4)
        self.partitions[0].leader_epoch = 4

    def ask(
        self,
        version: int,
        *partitions: OffsetForLeaderPartition,
        topic: str = "t",
        replica_id: int = -1,
    ) -> tuple[EpochEndOffset, ...]:
        request = OffsetForLeaderEpochRequest(
            replica_id=replica_id if version >= 3 else -2,
            topics=(OffsetForLeaderTopic(topic=topic, partitions=partitions),),
        )
        response = self.successResultOf(call(self.broker, SPEC, request, version))
        schema.encode_bytes(response, version)
        (answer,) = response.topics
        self.assertEqual(answer.topic, topic)
        return tuple(answer.partitions)

    def end(
        self, epoch: int, partition: int = 0, current: int = -1, version: int = 4
    ) -> tuple[int, int, int]:
        (p,) = self.ask(
            version,
            OffsetForLeaderPartition(
                partition=partition, leader_epoch=epoch, current_leader_epoch=current
            ),
        )
        self.assertEqual(p.partition, partition)
        return p.error_code, p.leader_epoch, p.end_offset

    def test_registered(self) -> None:
        """OffsetForLeaderEpoch is registered with versions 0-4."""
        self.assertIn(SPEC, REGISTRY)
        self.assertEqual((SPEC.versions.lowest, SPEC.versions.highest), (0, 4))

    def test_current_epoch_ends_at_log_end(self) -> None:
        """The current epoch ends at the log end offset."""
        self.assertEqual(self.end(4), (0, 4, 6))

    def test_older_epochs(self) -> None:
        """An older epoch ends where the next higher epoch starts."""
        self.assertEqual(self.end(1), (0, 1, 2))
        self.assertEqual(self.end(3), (0, 3, 3))

    def test_unknown_epoch_answers_largest_below(self) -> None:
        """An unused epoch answers the largest epoch below it, ending at the next one's start."""
        self.assertEqual(self.end(2), (0, 1, 2))

    def test_epoch_before_the_log(self) -> None:
        """An epoch older than every cached one answers itself and the first epoch's start."""
        self.assertEqual(self.end(0), (0, 0, 0))

    def test_undefined_answers(self) -> None:
        """-1, or an epoch newer than the current, answers -1 / -1 with no error."""
        self.assertEqual(self.end(-1), (0, -1, -1))
        self.assertEqual(self.end(5), (0, -1, -1))

    def test_empty_log_current_epoch(self) -> None:
        """An empty log's current epoch ends at 0; older epochs are unknown."""
        self.partitions[1].leader_epoch = 2
        self.assertEqual(self.end(2, partition=1), (0, 2, 0))
        self.assertEqual(self.end(1, partition=1), (0, -1, -1))

    def test_current_leader_epoch(self) -> None:
        """An older current_leader_epoch is fenced, a newer one unknown; errors carry -1 / -1."""
        self.assertEqual(self.end(1, current=3), (ErrorCode.FENCED_LEADER_EPOCH, -1, -1))
        self.assertEqual(self.end(1, current=5), (ErrorCode.UNKNOWN_LEADER_EPOCH, -1, -1))
        self.assertEqual(self.end(1, current=4), (0, 1, 2))

    def test_unknown_topic_or_partition(self) -> None:
        """An unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION with -1 / -1."""
        unknown = (int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), -1, -1)
        self.assertEqual(self.end(1, partition=7), unknown)
        (p,) = self.ask(4, OffsetForLeaderPartition(partition=0, leader_epoch=1), topic="nope")
        self.assertEqual((p.error_code, p.leader_epoch, p.end_offset), unknown)

    def test_replica_ids(self) -> None:
        """Consumers (-1), the debugging id (-2) and followers (a broker id) get the same answer."""
        for replica_id in (-1, -2, 1, 7):
            (p,) = self.ask(
                3, OffsetForLeaderPartition(partition=0, leader_epoch=3), replica_id=replica_id
            )
            self.assertEqual((p.error_code, p.leader_epoch, p.end_offset), (0, 3, 3), replica_id)

    def test_after_delete_records(self) -> None:
        """Epochs wholly deleted from the log answer the start of the first remaining one."""
        self.successResultOf(log_of(self.broker, "t", 0).delete_records_before(3))
        self.assertEqual(self.end(1), (0, 1, 3))
        self.assertEqual(self.end(3), (0, 3, 3))
        self.assertEqual(self.end(4), (0, 4, 6))

    def test_kafka_python_every_version(self) -> None:
        """kafka-python requests are answered and its decoder reads our answers, v0-v4."""
        for version in range(0, 5):
            request = ClientRequest(
                replica_id=-1,
                topics=[
                    ClientRequest.OffsetForLeaderTopic(
                        topic="t",
                        partitions=[
                            ClientRequest.OffsetForLeaderTopic.OffsetForLeaderPartition(
                                partition=0, current_leader_epoch=4, leader_epoch=3
                            ),
                            ClientRequest.OffsetForLeaderTopic.OffsetForLeaderPartition(
                                partition=0, current_leader_epoch=2, leader_epoch=3
                            ),
                        ],
                    )
                ],
            )
            response = client_roundtrip(self, self.broker, SPEC, request, ClientResponse, version)
            answer, fenced = response.topics[0].partitions
            self.assertEqual((answer.error_code, answer.end_offset), (0, 3), version)
            self.assertEqual(answer.leader_epoch, 3 if version >= 1 else -1, version)
            # current_leader_epoch exists from v2; before, the client cannot be fenced.
            expected = ErrorCode.FENCED_LEADER_EPOCH if version >= 2 else 0
            self.assertEqual(fenced.error_code, expected, version)

    def test_error_response_every_version(self) -> None:
        """The whole-request error answer gives every partition the code and -1 / -1."""
        request = OffsetForLeaderEpochRequest(
            topics=(
                OffsetForLeaderTopic(
                    topic="t", partitions=(OffsetForLeaderPartition(partition=0, leader_epoch=1),)
                ),
            ),
        )
        for version in range(0, 5):
            data = schema.encode_bytes(
                SPEC.error_response(request, version, ErrorCode.NOT_LEADER_OR_FOLLOWER), version
            )
            (p,) = ClientResponse.decode(data, version=version).topics[0].partitions
            self.assertEqual((p.error_code, p.end_offset), (ErrorCode.NOT_LEADER_OR_FOLLOWER, -1))
