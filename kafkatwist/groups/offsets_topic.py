"""Writing to ``__consumer_offsets``: creating the topic, appending a group's records.

Kafka's coordinator runtime writes a group's records to the partition
C{partitionFor(groupId)} of ``__consumer_offsets`` and acknowledges a change
only after the append; an append error maps to a coordinator error
(C{CoordinatorRuntime} and C{GroupMetadataManager.appendGroupMetadataErrorToResponseError}).

The coordinator creates the topic through a L{TopicCreator} (the
controller), and opens and appends to its partition logs through
L{Partitions}, as Produce does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from attrs import define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import ReactorTime, now_ms
from kafkatwist.errors import ErrorCode, KafkaError, RecordsError
from kafkatwist.groups.leadership import Leadership
from kafkatwist.groups.records import OFFSETS_TOPIC, partition_for
from kafkatwist.storage.interfaces import IMetadataStore, IPartitionLog
from kafkatwist.storage.kraft import TopicState
from kafkatwist.storage.results import AppendInfo
from kafkatwist.topics.partitions import Partitions
from kafkatwist.wire.batch import parse_batch_header
from kafkatwist.wire.record import build_batch
from kafkatwist.wire.validator import validate_produce_records

#: The topic configs Kafka creates ``__consumer_offsets`` with.
OFFSETS_TOPIC_CONFIGS: Mapping[str, str] = {
    "cleanup.policy": "compact",
    "compression.type": "producer",
    "segment.bytes": "104857600",
}


def offsets_topic_configs(segment_bytes: int) -> Mapping[str, str]:
    """L{OFFSETS_TOPIC_CONFIGS} with C{offsets.topic.segment.bytes} as its ``segment.bytes``."""
    return {**OFFSETS_TOPIC_CONFIGS, "segment.bytes": str(segment_bytes)}


#: Records of one group: (key, value) pairs, a None value being a tombstone.
Records = Sequence[tuple[bytes, bytes | None]]

_log = Logger()


class TopicCreator(Protocol):
    """What the group coordinator needs from the controller: creating ``__consumer_offsets``."""

    def create_topic(
        self, name: str, num_partitions: int, *, configs: Mapping[str, str]
    ) -> Deferred[TopicState]:
        """
        Create a topic; fires with it once the metadata holds it.

        A refusal (C{TOPIC_ALREADY_EXISTS} while another request creates it)
        fails with, or raises at once, a L{KafkaError}.
        """


def append_error(f: Failure, commit: bool = False) -> ErrorCode:
    """Kafka's mapping of append errors to coordinator errors."""
    code = f.value.code if isinstance(f.value, KafkaError) else ErrorCode.UNKNOWN_SERVER_ERROR
    if code in (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.REQUEST_TIMED_OUT,
    ):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if code in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    if code in (
        ErrorCode.MESSAGE_TOO_LARGE,
        ErrorCode.RECORD_LIST_TOO_LARGE,
        ErrorCode.INVALID_FETCH_SIZE,
    ):
        return ErrorCode.INVALID_COMMIT_OFFSET_SIZE if commit else ErrorCode.UNKNOWN_SERVER_ERROR
    return ErrorCode(code)


def log_append_failure(f: Failure, what: str, group_id: str) -> None:
    """Log a failed append: a warning for a Kafka error, a traceback for anything else."""
    if isinstance(f.value, KafkaError):
        _log.warn(
            "{what} of group {group} failed: {error}", what=what, group=group_id, error=f.value
        )
    else:
        _log.failure("{what} of group {group} failed", f, what=what, group=group_id)


@define(eq=False)
class OffsetsTopic:
    """
    A coordinator's internal topic as the coordinator writes it: ``__consumer_offsets`` by default.

    The transaction coordinator writes ``__transaction_state`` through one
    too (another C{name} and C{configs}): both are created on first use and
    keyed by the Java hash of an id (L{partition_for}).

    @ivar _num_partitions: C{offsets.topic.num.partitions} (or
        C{transaction.state.log.num.partitions}), used when the topic is
        created on first use.
    """

    _num_partitions: int
    _clock: ReactorTime
    _metadata: IMetadataStore
    _controller: TopicCreator
    _partitions: Partitions
    name: str = OFFSETS_TOPIC
    _configs: Mapping[str, str] = OFFSETS_TOPIC_CONFIGS
    #: The partitions led here (the group coordinator's): a write to another
    #: one is refused, and one that ends after its partition's resignation
    #: answers NOT_COORDINATOR (Kafka fails a resigned partition's pending
    #: writes). None: every partition is written (the transaction coordinator's).
    _leadership: Leadership | None = None
    #: Callers waiting for a creation under way, or None.
    _waiters: list[Deferred[TopicState]] | None = field(default=None, init=False)

    def current(self) -> TopicState | None:
        """The topic, if the metadata holds it."""
        return self._metadata.image.topics.get(self.name)

    def partition_log(self, topic: TopicState, partition: int) -> IPartitionLog | None:
        """The log of one of its partitions."""
        return self._partitions.partition_log(topic, partition)

    def ensure(self) -> Deferred[TopicState]:
        """The topic, created through the controller on first use."""
        topic = self.current()
        if topic is not None:
            return succeed(topic)
        d: Deferred[TopicState] = Deferred()
        if self._waiters is not None:
            self._waiters.append(d)
            return d
        self._waiters = [d]
        try:
            created = self._controller.create_topic(
                self.name, self._num_partitions, configs=dict(self._configs)
            )
        except Exception:
            created = fail()
        created.addBoth(self._created)
        return d

    def _created(self, result: TopicState | Failure) -> None:
        waiters, self._waiters = self._waiters or [], None
        outcome: TopicState | Exception = KafkaError(
            ErrorCode.COORDINATOR_NOT_AVAILABLE, f"{self.name} unavailable"
        )
        if not isinstance(result, Failure):
            outcome = result
        elif (topic := self.current()) is not None:  # created concurrently
            outcome = topic
        else:
            _log.failure("Creating {topic} failed", result, topic=self.name)
        for w in waiters:
            if isinstance(outcome, TopicState):
                w.callback(outcome)
            else:
                w.errback(outcome)

    def partition_of(self, key: str, num_partitions: int | None = None) -> int:
        """The partition of a group or transactional id (of the existing topic by default)."""
        if num_partitions is None:
            topic = self.current()
            num_partitions = len(topic.partitions) if topic is not None else self._num_partitions
        return partition_for(key, num_partitions)

    def append(
        self, group_id: str, records: Records, producer: tuple[int, int] | None = None
    ) -> Deferred[AppendInfo]:
        """
        Append records of C{group_id} as one batch to its partition.

        @param producer: (producer id, epoch) of a transactional producer
            (TxnOffsetCommit): the batch is then a transactional batch of
            that producer, written as Kafka's coordinator does (no sequence,
            origin COORDINATOR: the producer state is not checked).
        """
        return Deferred.fromCoroutine(self._append(group_id, records, producer))

    async def _append(
        self, group_id: str, records: Records, producer: tuple[int, int] | None
    ) -> AppendInfo:
        topic = await self.ensure()
        p = partition_for(group_id, len(topic.partitions))
        election = None if self._leadership is None else self._leadership.writable(p)
        info = await self._write(topic, p, records, producer)
        if self._leadership is not None and not self._leadership.still_led(p, election):
            raise KafkaError(
                ErrorCode.NOT_COORDINATOR, f"{self.name}-{p} resigned during the write"
            )
        return info

    async def _write(
        self, topic: TopicState, p: int, records: Records, producer: tuple[int, int] | None
    ) -> AppendInfo:
        log = self._partitions.partition_log(topic, p)
        if log is None:
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        if producer is not None:
            # Kafka's GroupMetadataManager writes these without a sequence
            # (origin COORDINATOR: the producer state checks no sequence).
            batch = build_batch(
                list(records),
                base_timestamp=now_ms(self._clock),
                producer_id=producer[0],
                producer_epoch=producer[1],
                is_transactional=True,
            )
            if len(batch) > log.config.max_message_bytes:
                raise KafkaError(ErrorCode.RECORD_LIST_TOO_LARGE)
            epoch = max(topic.partitions[p].leader_epoch, 0)
            appended = log.append(
                batch,
                [(0, parse_batch_header(batch))],
                leader_epoch=epoch,
                now_ms=now_ms(self._clock),
            )
            return await appended
        batch = build_batch(list(records), base_timestamp=now_ms(self._clock))
        try:
            batches = validate_produce_records(
                batch, max_batch_bytes=log.config.max_message_bytes, allow_multiple_batches=True
            )
        except RecordsError as e:
            raise KafkaError(e.code, str(e.message)) from None
        return await self._partitions.append(topic, p, log, batch, batches)

    def store_quietly(self, group_id: str, records: Records) -> None:
        """Append records nobody waits for; a failure is only logged."""
        d = self.append(group_id, records)
        d.addErrback(log_append_failure, "Writing to __consumer_offsets", group_id)
