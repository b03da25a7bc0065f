"""ListOffsets (api key 2) against a broker on the file engine, at every version."""

from __future__ import annotations

from typing import Any

from kafka.protocol.consumer.offsets import ListOffsetsRequest as ClientRequest
from kafka.protocol.consumer.offsets import ListOffsetsResponse as ClientResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, list_offsets
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.list_offsets import (
    ListOffsetsPartition,
    ListOffsetsPartitionResponse,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from kafkatwist.storage.interfaces import ILogManager, IPartitionLog
from kafkatwist.wire import schema
from tests.brokers import call, make_broker, with_logs
from tests.offsets_support import client_roundtrip, produce

SPEC = list_offsets.SPEC
NOW_MS = 1_700_000_000_000


class LaggingLog:
    """
    A partition log whose high watermark and last stable offset trail its end.

    On one broker without transactions the file engine's high watermark and
    last stable offset are its log end offset; this view of a real log
    reports smaller ones, as a leader waiting for followers (or an open
    transaction) would. Everything else is the real log's.
    """

    def __init__(self, log: IPartitionLog, hw: int, lso: int) -> None:
        self._log = log
        self.hw = hw
        self.lso = lso

    @property
    def high_watermark(self) -> int:
        return self.hw

    @property
    def last_stable_offset(self) -> int:
        return self.lso

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


class LogsWith:
    """A log manager answering C{get} with the given logs for some partitions."""

    def __init__(self, logs: ILogManager, replaced: dict[tuple[str, int], Any]) -> None:
        self._logs = logs
        self._replaced = replaced

    def get(self, topic: str, partition: int) -> Any:
        return self._replaced.get((topic, partition)) or self._logs.get(topic, partition)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logs, name)


class ListOffsetsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        controller = self.broker.controller
        self.successResultOf(controller.create_topic("t", 2))
        # Offsets 0, 1, 2 with timestamps 100, 900, 300; partition 1 stays empty.
        self.log = produce(self, self.broker, "t", 0, [[100, 900], [300]])

    def ask(
        self,
        version: int,
        *partitions: tuple[int, int] | ListOffsetsPartition,
        topic: str = "t",
        replica_id: int = -1,
        isolation_level: int = 0,
    ) -> tuple[ListOffsetsPartitionResponse, ...]:
        parts = tuple(
            p
            if isinstance(p, ListOffsetsPartition)
            else ListOffsetsPartition(partition_index=p[0], timestamp=p[1])
            for p in partitions
        )
        request = ListOffsetsRequest(
            replica_id=replica_id,
            isolation_level=isolation_level if version >= 2 else 0,
            topics=(ListOffsetsTopic(name=topic, partitions=parts),),
        )
        response = self.successResultOf(call(self.broker, SPEC, request, version))
        schema.encode_bytes(response, version)  # every answer must encode at its version
        (answer,) = response.topics
        self.assertEqual(answer.name, topic)
        return tuple(answer.partitions)

    def one(
        self, version: int, timestamp: int, partition: int = 0, **kw: Any
    ) -> tuple[int, int, int, int]:
        (p,) = self.ask(version, (partition, timestamp), **kw)
        return p.error_code, p.offset, p.timestamp, p.leader_epoch

    def test_registered(self) -> None:
        """ListOffsets is registered with versions 0-11."""
        self.assertIn(SPEC, REGISTRY)
        self.assertEqual((SPEC.versions.lowest, SPEC.versions.highest), (0, 11))

    def test_earliest_and_latest_every_version(self) -> None:
        """-2 answers the log start offset, -1 the high watermark; the epoch from v4."""
        for version in range(1, 12):
            epoch = 0 if version >= 4 else -1
            self.assertEqual(self.one(version, -2), (0, 0, -1, epoch), version)
            self.assertEqual(self.one(version, -1), (0, 3, -1, epoch), version)

    def test_by_timestamp(self) -> None:
        """A timestamp answers the first offset whose record timestamp is >= it."""
        self.assertEqual(self.one(1, 0), (0, 0, 100, -1))
        self.assertEqual(self.one(4, 150), (0, 1, 900, 0))
        # Offset 1 (900) precedes offset 2 (300): the first offset wins.
        self.assertEqual(self.one(4, 300), (0, 1, 900, 0))
        self.assertEqual(self.one(4, 900), (0, 1, 900, 0))

    def test_by_timestamp_none(self) -> None:
        """A timestamp past every record answers offset -1, timestamp -1, no error."""
        self.assertEqual(self.one(4, 901), (0, -1, -1, -1))
        self.assertEqual(self.one(4, 0, partition=1), (0, -1, -1, -1))

    def test_max_timestamp(self) -> None:
        """-3 (v7+) answers the record with the largest timestamp and that timestamp."""
        self.assertEqual(self.one(7, -3), (0, 1, 900, 0))
        produce(self, self.broker, "t", 0, [[50, 900]])
        self.assertEqual(self.one(10, -3), (0, 1, 900, 0))

    def test_max_timestamp_empty(self) -> None:
        """-3 on an empty log answers -1 / -1."""
        self.assertEqual(self.one(7, -3, partition=1), (0, -1, -1, -1))

    def test_special_timestamps_need_their_version(self) -> None:
        """A special timestamp below its version, or unknown, is UNSUPPORTED_VERSION."""
        unsupported = int(ErrorCode.UNSUPPORTED_VERSION)
        for timestamp, version in ((-3, 6), (-4, 7), (-5, 8), (-6, 10), (-7, 10)):
            self.assertEqual(self.one(version, timestamp), (unsupported, -1, -1, -1), timestamp)
        for timestamp, version in ((-3, 7), (-4, 8), (-5, 9), (-6, 11)):
            self.assertEqual(self.one(version, timestamp)[0], 0, timestamp)
        self.assertEqual(self.one(11, -7), (unsupported, -1, -1, -1))

    def test_earliest_local(self) -> None:
        """-4 (v8+) is the log start offset: nothing is tiered."""
        self.assertEqual(self.one(8, -4), (0, 0, -1, 0))
        self.successResultOf(self.log.delete_records_before(2))
        self.assertEqual(self.one(8, -4), (0, 2, -1, 0))

    def test_latest_tiered(self) -> None:
        """-5 (v9+) answers offset, timestamp and leader epoch -1: nothing is tiered."""
        self.assertEqual(self.one(9, -5), (0, -1, -1, -1))

    def test_earliest_pending_upload(self) -> None:
        """-6 (v11, KIP-1023) answers offset, timestamp and leader epoch -1: nothing is tiered."""
        self.assertEqual(self.one(11, -6), (0, -1, -1, -1))
        self.assertEqual(self.one(11, -6, partition=1), (0, -1, -1, -1))

    def test_kafka_python_v11_earliest_pending_upload(self) -> None:
        """kafka-python's v11 request for -6 decodes, and its decoder reads the v11 answer."""
        request = ClientRequest(
            replica_id=-1,
            isolation_level=1,
            timeout_ms=30000,
            topics=[
                ClientRequest.ListOffsetsTopic(
                    name="t",
                    partitions=[
                        ClientRequest.ListOffsetsTopic.ListOffsetsPartition(
                            partition_index=0, current_leader_epoch=0, timestamp=-6
                        ),
                        ClientRequest.ListOffsetsTopic.ListOffsetsPartition(
                            partition_index=1, current_leader_epoch=-1, timestamp=-2
                        ),
                    ],
                )
            ],
        )
        response = client_roundtrip(self, self.broker, SPEC, request, ClientResponse, 11)
        (topic,) = response.topics
        pending, earliest = topic.partitions
        self.assertEqual(
            (pending.error_code, pending.offset, pending.timestamp, pending.leader_epoch),
            (0, -1, -1, -1),
        )
        self.assertEqual((earliest.error_code, earliest.offset, earliest.leader_epoch), (0, 0, 0))

    def test_after_delete_records(self) -> None:
        """The log start offset bounds earliest and timestamp answers."""
        self.successResultOf(self.log.delete_records_before(2))
        self.assertEqual(self.one(4, -2), (0, 2, -1, 0))
        self.assertEqual(self.one(4, 0), (0, 2, 300, 0))

    def test_duplicate_partitions(self) -> None:
        """A partition listed twice is answered once, INVALID_REQUEST; others are answered."""
        answers = self.ask(4, (0, -1), (1, -1), (0, -2))
        invalid = int(ErrorCode.INVALID_REQUEST)
        self.assertEqual(
            [(a.partition_index, a.error_code, a.offset) for a in answers],
            [(0, invalid, -1), (1, 0, 0)],
        )

    def test_topic_listed_twice(self) -> None:
        """Partitions of one topic spread over two entries are answered under one topic."""
        request = ListOffsetsRequest(
            replica_id=-1,
            topics=(
                ListOffsetsTopic(
                    name="t", partitions=(ListOffsetsPartition(partition_index=0, timestamp=-1),)
                ),
                ListOffsetsTopic(
                    name="t", partitions=(ListOffsetsPartition(partition_index=1, timestamp=-1),)
                ),
            ),
        )
        response = self.successResultOf(call(self.broker, SPEC, request, 5))
        self.assertEqual(
            [
                (t.name, [(p.partition_index, p.offset) for p in t.partitions])
                for t in response.topics
            ],
            [("t", [(0, 3), (1, 0)])],
        )

    def test_unknown_topic_or_partition(self) -> None:
        """An unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION."""
        unknown = int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        self.assertEqual(self.one(4, -1, partition=2), (unknown, -1, -1, -1))
        self.assertEqual(self.ask(4, (0, -1), topic="nope")[0].error_code, unknown)

    def test_current_leader_epoch(self) -> None:
        """An older current_leader_epoch is fenced, a newer one unknown, the same or -1 accepted."""
        self.broker.metadata.image.topics["t"].partitions[0].leader_epoch = 3

        def with_epoch(epoch: int) -> int:
            (p,) = self.ask(
                4, ListOffsetsPartition(partition_index=0, timestamp=-1, current_leader_epoch=epoch)
            )
            return p.error_code

        self.assertEqual(with_epoch(2), ErrorCode.FENCED_LEADER_EPOCH)
        self.assertEqual(with_epoch(4), ErrorCode.UNKNOWN_LEADER_EPOCH)
        self.assertEqual(with_epoch(3), 0)
        self.assertEqual(with_epoch(-1), 0)

    def test_leader_epochs_in_answers(self) -> None:
        """Latest answers the current epoch; earliest and timestamps the epoch of their record."""
        self.broker.metadata.image.topics["t"].partitions[0].leader_epoch = 2
        produce(self, self.broker, "t", 0, [[1000]])  # offset 3, epoch 2
        self.assertEqual(self.one(4, -1), (0, 4, -1, 2))
        self.assertEqual(self.one(4, -2), (0, 0, -1, 0))
        self.assertEqual(self.one(4, 950), (0, 3, 1000, 2))
        self.assertEqual(self.one(4, 0), (0, 0, 100, 0))
        self.assertEqual(self.one(7, -3), (0, 3, 1000, 2))
        self.successResultOf(self.log.delete_records_before(3))
        self.assertEqual(self.one(4, -2), (0, 3, -1, 2))

    def test_empty_log_epoch_is_current(self) -> None:
        """On a log with no record the earliest and latest epochs are the current leader epoch."""
        self.broker.metadata.image.topics["t"].partitions[1].leader_epoch = 5
        self.assertEqual(self.one(4, -2, partition=1), (0, 0, -1, 5))
        self.assertEqual(self.one(4, -1, partition=1), (0, 0, -1, 5))

    def install_lagging_log(self) -> LaggingLog:
        """Partition 1 becomes a log with end offset 3, high watermark 2, last stable offset 1."""
        real = produce(self, self.broker, "t", 1, [[10, 20, 30]])
        log = LaggingLog(real, hw=2, lso=1)
        self.broker = with_logs(self.broker, LogsWith(self.broker.logs, {("t", 1): log}))
        return log

    def test_isolation_level_and_replica_id(self) -> None:
        """Latest is the HW for consumers, the LSO under read_committed, the LEO for replicas."""
        self.install_lagging_log()
        self.assertEqual(self.one(2, -1, partition=1)[1], 2)
        self.assertEqual(self.one(2, -1, partition=1, isolation_level=1)[1], 1)
        self.assertEqual(self.one(1, -1, partition=1)[1], 2)
        self.assertEqual(self.one(2, -1, partition=1, replica_id=1)[1], 3)
        self.assertEqual(self.one(2, -1, partition=1, replica_id=-2, isolation_level=1)[1], 3)

    def test_answers_past_last_fetchable_offset(self) -> None:
        """A timestamp or max-timestamp record at or past the last fetchable offset is no answer."""
        self.install_lagging_log()
        self.assertEqual(self.one(4, 25, partition=1), (0, -1, -1, -1))
        self.assertEqual(self.one(4, 15, partition=1)[1], 1)
        self.assertEqual(self.one(4, 15, partition=1, isolation_level=1)[1], -1)
        self.assertEqual(self.one(7, -3, partition=1), (0, -1, -1, -1))
        self.assertEqual(self.one(7, -3, partition=1, replica_id=1), (0, 2, 30, 0))

    def old_style(
        self, partition: int, timestamp: int, max_num_offsets: int = 1, **kw: Any
    ) -> tuple[int, tuple[int, ...]]:
        (p,) = self.ask(
            0,
            ListOffsetsPartition(
                partition_index=partition, timestamp=timestamp, max_num_offsets=max_num_offsets
            ),
            **kw,
        )
        return p.error_code, p.old_style_offsets

    def test_v0_old_style_offsets(self) -> None:
        """v0 lists offsets by segment time, newest first, up to max_num_offsets."""
        self.assertEqual(self.old_style(0, -1), (0, (3,)))
        self.assertEqual(self.old_style(0, -2), (0, (0,)))
        self.assertEqual(self.old_style(0, -1, 5), (0, (3, 0)))
        # The one segment was last modified at its largest record time (900), the end is "now".
        self.assertEqual(self.old_style(0, 899, 5), (0, ()))
        self.assertEqual(self.old_style(0, 900, 5), (0, (0,)))
        self.assertEqual(self.old_style(0, NOW_MS, 5), (0, (3, 0)))
        self.assertEqual(self.old_style(0, 900, 0), (0, ()))
        self.assertEqual(self.old_style(1, -1, 5), (0, (0,)))

    def test_v0_errors(self) -> None:
        """v0 refuses unknown partitions and a negative max_num_offsets, not duplicates."""
        self.assertEqual(self.old_style(2, -1)[0], ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        self.assertEqual(self.old_style(0, -1, -1)[0], ErrorCode.UNKNOWN_SERVER_ERROR)
        answers = self.ask(0, (0, -1), (0, -1))
        self.assertEqual([a.error_code for a in answers], [0, 0])

    def test_v0_capped_at_high_watermark_for_consumers(self) -> None:
        """v0 consumers see no offset above the high watermark; replicas do."""
        self.install_lagging_log()
        self.assertEqual(self.old_style(1, -1, 5), (0, (2, 0)))
        self.assertEqual(self.old_style(1, -1, 5, replica_id=1), (0, (3, 0)))

    def test_kafka_python_every_version(self) -> None:
        """kafka-python requests are answered and its decoder reads our answers, v0-v11."""
        for version in range(0, 12):
            request = ClientRequest(
                replica_id=-1,
                isolation_level=0,
                topics=[
                    ClientRequest.ListOffsetsTopic(
                        name="t",
                        partitions=[
                            ClientRequest.ListOffsetsTopic.ListOffsetsPartition(
                                partition_index=0, timestamp=-1, max_num_offsets=1
                            ),
                            ClientRequest.ListOffsetsTopic.ListOffsetsPartition(
                                partition_index=9, timestamp=150, max_num_offsets=1
                            ),
                        ],
                    )
                ],
            )
            response = client_roundtrip(self, self.broker, SPEC, request, ClientResponse, version)
            (topic,) = response.topics
            latest, unknown = topic.partitions
            self.assertEqual(topic.name, "t")
            self.assertEqual(unknown.error_code, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, version)
            if version == 0:
                self.assertEqual(list(latest.old_style_offsets), [3])
            else:
                self.assertEqual(
                    (latest.error_code, latest.offset, latest.timestamp), (0, 3, -1), version
                )
            if version >= 4:
                self.assertEqual(latest.leader_epoch, 0)

    def test_error_response_every_version(self) -> None:
        """The whole-request error answer gives every partition the code, at every version."""
        request = ListOffsetsRequest(
            replica_id=-1,
            topics=(
                ListOffsetsTopic(
                    name="t", partitions=(ListOffsetsPartition(partition_index=0, timestamp=-1),)
                ),
            ),
        )
        for version in range(0, 11):
            data = schema.encode_bytes(
                SPEC.error_response(request, version, ErrorCode.NOT_LEADER_OR_FOLLOWER), version
            )
            decoded = ClientResponse.decode(data, version=version)
            self.assertEqual(
                decoded.topics[0].partitions[0].error_code, ErrorCode.NOT_LEADER_OR_FOLLOWER
            )
