"""Partitions: the logs of the partitions this broker leads, and appends to them.

Kafka's C{ReplicaManager} and C{Partition} roles on a single node: a
partition's log is opened (or created, with Kafka's ``partition.metadata``
file) when it is first needed, as a Kafka broker does once the metadata
image makes it leader; appends check the producer state, answer duplicates
from it, and recompress for the topic's ``compression.type`` before the
log assigns offsets (Kafka's C{UnifiedLog.append} and C{LogValidator}).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

from attrs import define, field, frozen
from twisted.internet.defer import Deferred, DeferredSemaphore, fail, succeed
from twisted.python.failure import Failure

from kafkatwist.clock import ReactorTime, RunBlocking, now_ms
from kafkatwist.config.log_config import LogConfig
from kafkatwist.errors import ErrorCode, KafkaError, RecordsError
from kafkatwist.producers.state import ProducerStateError
from kafkatwist.storage.interfaces import ILogManager, IMetadataStore, IPartitionLog
from kafkatwist.storage.kraft import TopicState, write_partition_metadata
from kafkatwist.storage.results import AppendInfo
from kafkatwist.wire.batch import BatchHeader, build_end_txn_marker, parse_batch_header
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.recompress import convert_for_topic, target_codec
from kafkatwist.wire.record_checks import (
    CheckedRecords,
    TimestampCheck,
    check_records,
    with_checked,
)

_T = TypeVar("_T")


@frozen
class TxnMarker:
    """The fields of a transaction marker the coordinator asks to write."""

    producer_id: int
    producer_epoch: int
    coordinator_epoch: int
    commit: bool


#: Validated batches: each batch's position in the buffer and its header.
Batches = Sequence[tuple[int, BatchHeader]]

#: Batches decompressed in worker threads at once, at most: each may hold
#: up to its decompressed limit (L{kafkatwist.wire.record_checks.decompressed_limit}).
CONCURRENT_WORKER_CHECKS = 2
#: Records recompressed on the reactor thread at most; more go to a worker.
CONVERT_INLINE_RECORDS = 1000


@define
class Partitions:
    """
    Opens partition logs from the metadata image and appends validated batches to them.

    @ivar _log_config: A topic's L{LogConfig} now (static, dynamic and topic
        layers); called when a log is created.
    @ivar _run_blocking: Where compressed batches too big to decompress on
        the reactor thread are checked (a worker thread); None checks them
        at once (tests).
    @ivar _checking: Per partition, a Deferred that fires once the append
        being checked in a worker thread has been handed to the log: later
        appends to the partition wait for it, so appends keep their order.
    """

    _metadata: IMetadataStore
    _logs: ILogManager
    _log_config: Callable[[str], LogConfig]
    _clock: ReactorTime
    _run_blocking: RunBlocking | None = None
    _checking: dict[tuple[str, int], Deferred[None]] = field(factory=dict, init=False)
    _workers: DeferredSemaphore = field(
        factory=lambda: DeferredSemaphore(CONCURRENT_WORKER_CHECKS), init=False
    )

    def now_ms(self) -> int:
        """The injected clock's time, in milliseconds."""
        return now_ms(self._clock)

    def run_in_worker(self, job: Callable[[], _T]) -> Deferred[_T]:
        """
        C{job} in a worker thread, L{CONCURRENT_WORKER_CHECKS} at most at once (or at once).

        For per-record work too big for the reactor thread: the old message
        format conversions of Produce v0-v2 and Fetch v0-v3.
        """
        if self._run_blocking is None:
            try:
                return succeed(job())
            except Exception:
                return fail()
        return self._workers.run(self._run_blocking, job)

    def partition_log(self, topic: TopicState, partition: int) -> IPartitionLog | None:
        """
        The log of one partition the metadata knows, opened or created on demand.

        Like a Kafka broker that becomes leader of a partition from the
        metadata image, the log directory is created when it is first needed,
        with its ``partition.metadata``. C{None} for a partition the topic
        does not have.
        """
        if partition not in topic.partitions:
            return None
        return self.open_log(topic, partition)

    def open_log(self, topic: TopicState, partition: int) -> IPartitionLog:
        """
        The log of partition C{partition}, which C{topic} has, opened or created on demand.

        L{partition_log} for a caller that checked the partition exists.
        """
        log = self._logs.get(topic.name, partition)
        if log is None:
            log = self._logs.create(topic.name, partition, self._log_config(topic.name))
            log_dir = self._logs.log_dir_of(topic.name, partition)
            if log_dir is not None:
                directory = os.path.join(log_dir, f"{topic.name}-{partition}")
                write_partition_metadata(directory, topic.topic_id)
        return log

    def create_logs(self, name: str, topic_id: uuid.UUID, partitions: Sequence[int]) -> None:
        """
        Create the logs (with ``partition.metadata``) of partitions of a topic not yet recorded.

        They get the broker-wide settings; L{refresh_config} gives them the
        topic's own once its records are applied. All or nothing: if one
        cannot be created (out of descriptors or disk space), those created
        are removed again and C{KAFKA_STORAGE_ERROR} is raised, so no
        half-created topic stays behind.
        """
        config = self._log_config(name)
        created: list[int] = []
        try:
            for partition in partitions:
                created.append(partition)
                self._logs.create(name, partition, config)
                log_dir = self._logs.log_dir_of(name, partition)
                if log_dir is not None:
                    directory = os.path.join(log_dir, f"{name}-{partition}")
                    write_partition_metadata(directory, topic_id)
        except (KafkaError, OSError) as e:
            for partition in created:
                self._logs.discard(name, partition)
            if isinstance(e, KafkaError):
                raise
            raise KafkaError(
                ErrorCode.KAFKA_STORAGE_ERROR, f"Error while creating logs of {name}: {e}"
            ) from e

    def refresh_config(self, name: str) -> None:
        """Give the open logs of topic C{name} its current settings (its configs were recorded)."""
        self._logs.update_config(name, self._log_config(name))

    def discard_logs(self, name: str, partitions: Sequence[int]) -> None:
        """Remove logs made by L{create_logs} whose topic was not recorded after all."""
        for partition in partitions:
            self._logs.discard(name, partition)

    def append(
        self,
        topic: TopicState,
        partition: int,
        log: IPartitionLog,
        records: Buffer,
        batches: Batches,
    ) -> Deferred[AppendInfo]:
        """
        Check the records of validated batches, then append them (L{append_checked}).

        The records are walked and compressed ones decompressed, bounded, as
        Kafka's C{LogValidator} does (L{check_records}: keys, and timestamps
        against the clock by the topic's ``message.timestamp.*``); a refusal
        fails with its C{RecordsError} and appends nothing, and CreateTime
        batches are appended with their true C{maxTimestamp}. A compressed batch that
        decompresses to more than the reactor thread's share is checked
        in a worker thread, and later appends to the partition wait for it.
        """
        key = (topic.name, partition)
        config = log.config
        compression = config.compression_type
        try:
            converting = compression != "producer" and any(
                target_codec(compression, h.compression) != h.compression for _, h in batches
            )
        except RecordsError as e:
            return fail(e)
        heavy = converting and sum(h.records_count for _, h in batches) > CONVERT_INLINE_RECORDS

        timestamps = TimestampCheck(
            config.log_append_time,
            self.now_ms(),
            config.message_timestamp_before_max_ms,
            config.message_timestamp_after_max_ms,
        )

        def check(chosen: Batches, inline: bool) -> CheckedRecords:
            return check_records(
                records,
                chosen,
                max_message_bytes=config.max_message_bytes,
                keys_required="compact" in config.cleanup_policy.split(","),
                partition=f"{topic.name}-{partition}",
                inline=inline,
                timestamps=timestamps,
            )

        def work(chosen: Batches) -> tuple[Buffer, Batches]:
            ready = with_checked(checked_batches, check(chosen, False).batches)
            if heavy:
                converted = convert_for_topic(
                    records, ready, compression, max_batch_bytes=config.max_message_bytes
                )
                if converted is not None:
                    return converted
            return records, ready

        def in_worker(chosen: Batches) -> Deferred[tuple[Buffer, Batches]]:
            if self._run_blocking is None:
                try:
                    return succeed(work(chosen))
                except RecordsError as e:
                    return fail(e)
            run_blocking = self._run_blocking
            return self._workers.run(run_blocking, lambda: work(chosen))

        tail = self._checking.get(key)
        checked: Deferred[tuple[Buffer, Batches]]
        checked_batches = batches
        if tail is None:
            try:
                inline = check(batches, True)
            except RecordsError as e:
                return fail(e)
            checked_batches = inline.batches
            if not inline.later and not heavy:
                return self.append_checked(topic, partition, log, records, checked_batches)
            checked = in_worker([batches[i] for i in inline.later])
        else:
            checked = Deferred()

            def after(_: None) -> None:
                in_worker(batches).chainDeferred(checked)

            tail.addCallback(after)
        gate: Deferred[None] = Deferred()
        self._checking[key] = gate
        result: Deferred[AppendInfo] = Deferred()

        def release() -> None:
            if self._checking.get(key) is gate:
                del self._checking[key]
            gate.callback(None)

        def passed(ready: tuple[Buffer, Batches]) -> None:
            self.append_checked(topic, partition, log, *ready).chainDeferred(result)
            release()

        def refused(failure: Failure) -> None:
            result.errback(failure)
            release()

        checked.addCallbacks(passed, refused)
        return result

    def append_checked(
        self,
        topic: TopicState,
        partition: int,
        log: IPartitionLog,
        records: Buffer,
        batches: Batches,
    ) -> Deferred[AppendInfo]:
        """
        Append batches whose records were checked, at the partition's current leader epoch.

        Batches with a producer id are first checked against the log's
        producer state: a refusal fails with its KafkaError and appends
        nothing, and a duplicate of a retained batch appends nothing and
        answers with the original batch's offsets (Kafka's
        C{UnifiedLog.append}). Then batches are recompressed if the topic's
        C{compression.type} asks for it. The log records the appended
        batches in its producer state itself.
        """
        epoch = topic.partitions[partition].leader_epoch
        if any(header.producer_id >= 0 for _, header in batches):
            try:
                duplicate = log.producer_state.check_append(
                    [header for _, header in batches],
                    next_offset=log.log_end_offset,
                    partition=f"{topic.name}-{partition}",
                )
            except ProducerStateError as e:
                return fail(KafkaError(e.code, e.message))
            if duplicate is not None:
                return succeed(
                    AppendInfo(
                        base_offset=duplicate.first_offset,
                        last_offset=duplicate.last_offset,
                        log_append_time_ms=duplicate.timestamp,
                        log_start_offset=log.log_start_offset,
                    )
                )
        compression = log.config.compression_type
        if compression != "producer":
            try:
                converted = convert_for_topic(
                    records, batches, compression, max_batch_bytes=log.config.max_message_bytes
                )
            except RecordsError as e:
                return fail(KafkaError(e.code, e.message))
            if converted is not None:
                records, batches = converted
        return log.append(records, batches, leader_epoch=max(epoch, 0), now_ms=self.now_ms())

    def write_txn_marker(
        self,
        topic: str,
        partition: int,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        *,
        transaction_version: int = 0,
    ) -> Deferred[None]:
        """
        Append a commit or abort marker (Kafka's C{appendRecordsToLeader}, origin COORDINATOR).

        The marker is a control batch (L{build_end_txn_marker}); the log
        ends the producer's open transaction, moves the last stable offset
        and indexes an aborted transaction. It is checked first as Kafka's
        C{ProducerAppendInfo.appendEndTxnMarker} does
        (L{kafkatwist.producers.state.ProducerStateTable.check_marker}). A
        marker for a producer with no open transaction here is written all
        the same. The marker waits for appends of the partition still being
        checked in a worker thread, so it never overtakes data produced
        before it. Fires once appended (and flushed only if
        ``flush.messages``/``flush.ms`` make a flush due).

        @param transaction_version: The transaction version of the marker
            (WriteTxnMarkers v2, KIP-1228): 2 requires an epoch newer than
            the producer's, as KIP-890's coordinator bumps it.
        @return: Fails with L{KafkaError}: C{UNKNOWN_TOPIC_OR_PARTITION},
            C{KAFKA_STORAGE_ERROR}, C{INVALID_PRODUCER_EPOCH} or
            C{TRANSACTION_COORDINATOR_FENCED}.
        """
        state = self._metadata.image.topics.get(topic)
        if state is None or partition not in state.partitions:
            code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            return fail(KafkaError(code, f"{topic}-{partition} does not exist"))

        def append(_: object = None) -> Deferred[None]:
            marker = TxnMarker(producer_id, producer_epoch, coordinator_epoch, commit)
            return self._append_marker(state, partition, marker, transaction_version)

        tail = self._checking.get((topic, partition))
        if tail is None:
            return append()
        result: Deferred[None] = Deferred()
        tail.addCallback(lambda _: append().chainDeferred(result))
        return result

    def _append_marker(
        self, topic: TopicState, partition: int, marker: TxnMarker, transaction_version: int
    ) -> Deferred[None]:
        try:
            log = self.open_log(topic, partition)
        except KafkaError as e:
            return fail(e)
        except OSError as e:
            return fail(KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, str(e)))
        try:
            log.producer_state.check_marker(
                marker.producer_id,
                marker.producer_epoch,
                marker.coordinator_epoch,
                transaction_version=transaction_version,
                offset=log.log_end_offset,
                partition=f"{topic.name}-{partition}",
            )
        except ProducerStateError as e:
            return fail(KafkaError(e.code, e.message))
        epoch = max(topic.partitions[partition].leader_epoch, 0)
        now = self.now_ms()
        batch = build_end_txn_marker(
            marker.producer_id,
            marker.producer_epoch,
            marker.coordinator_epoch,
            marker.commit,
            now,
            epoch,
        )
        batches = [(0, parse_batch_header(batch))]
        appended = log.append(batch, batches, leader_epoch=epoch, now_ms=now)
        return appended.addCallback(lambda _: None)

    def delete_topic(self, name: str) -> Deferred[None]:
        """Delete every partition log of topic C{name}."""
        return self._logs.delete_topic(name)


__all__ = ["Batches", "Partitions"]
