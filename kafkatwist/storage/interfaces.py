"""What a storage engine provides: the metadata store, the log manager, partition logs.

These C{typing.Protocol}s are the contract between the domain and handler
layers above and a storage engine below (the file engine in this package;
a shared-database engine is planned). Handlers and services are typed
against these names only, never against an engine's classes, so a second
engine plugs in without touching any handler.

Synchronous or asynchronous is part of each signature and never probed at
run time:

- Plain values (offsets, the metadata image, sizes) are answered from memory
  and return at once. An engine keeps them in memory for the partitions it
  serves (a leader knows its log end offset).
- Anything that may wait for a disk or a server returns a C{Deferred}: appends,
  reads, offset and epoch look-ups that may read a segment, deletes, flushes,
  loading and closing. A fast engine answers with an already-fired Deferred.

Errors come as failures carrying L{kafkatwist.errors.KafkaError} (for
example C{KAFKA_STORAGE_ERROR} once a log is offline, C{OFFSET_OUT_OF_RANGE},
C{CORRUPT_MESSAGE}); any other exception is a bug.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from twisted.internet.defer import Deferred

if TYPE_CHECKING:
    from kafkatwist.config.log_config import LogConfig
    from kafkatwist.producers.state import ProducerStateTable
    from kafkatwist.storage.checkpoints import EpochEntry
    from kafkatwist.storage.kraft import MetadataImage
    from kafkatwist.storage.results import AppendInfo, OffsetAndTimestamp, ReadResult
    from kafkatwist.storage.txn_index import AbortedTxn
    from kafkatwist.wire.batch import BatchHeader
    from kafkatwist.wire.primitives import Buffer


class IMetadataStore(Protocol):
    """
    The cluster metadata (Kafka's KRaft log): topics, partitions, configs, features.

    The image is the state after every record appended so far; it is read
    synchronously. Writes go through L{append}, which fires once the records
    are durable and applied to the image.
    """

    @property
    def image(self) -> MetadataImage:
        """The current metadata image (in memory)."""

    #: The offset the next appended record gets (the log end offset).
    next_offset: int
    #: The raft epoch stamped on appended batches (the leader epoch).
    epoch: int

    def load(self) -> Deferred[MetadataImage]:
        """Replay the stored metadata; fires with the image once loaded."""

    def append(self, records: Iterable[Any]) -> Deferred[MetadataImage]:
        """Write metadata records as one batch; fires with the updated image."""

    def append_when(
        self, build: Callable[[MetadataImage], Sequence[Any] | None]
    ) -> Deferred[MetadataImage]:
        """
        Append the records C{build(image)} makes from the current image; None or none: no write.

        For writers that are not client requests (producer id blocks, the
        feature bootstrap, the controller's duties). With a shared engine,
        another broker may append first: C{build} is then called again with
        the caught-up image, where L{append} fails with C{NOT_CONTROLLER}.
        """

    def topic_configs(self, name: str) -> Mapping[str, str]:
        """The config overrides of topic C{name} (Kafka names), empty if none."""

    def subscribe(self, callback: Callable[[Sequence[Any]], None]) -> None:
        """
        Call C{callback(records)} on the reactor thread after records are applied to the image.

        Whoever wrote them: this broker's appends and, with a shared engine,
        other brokers' records as they are read. Not called for the initial L{load}.
        """


class IPartitionLog(Protocol):
    """
    The log of one partition: record batches at offsets, as Kafka's C{UnifiedLog}.

    Offsets and sizes are read synchronously from memory. Appends, reads and
    look-ups that may touch a segment return Deferreds.
    """

    @property
    def config(self) -> LogConfig:
        """The topic's storage settings this log applies."""

    @property
    def producer_state(self) -> ProducerStateTable:
        """This partition's producer state (idempotence, and later transactions)."""

    @property
    def log_start_offset(self) -> int:
        """The first offset still readable."""

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record gets."""

    @property
    def high_watermark(self) -> int:
        """The offset up to which consumers may read (one broker: the log end offset)."""

    @property
    def appended_bytes(self) -> int:
        """
        Bytes appended since the log was opened: a counter that only grows.

        A parked fetch estimates what an append made readable from its change
        (Kafka's C{DelayedFetch} estimates from log positions), without a read.
        """

    @property
    def last_stable_offset(self) -> int:
        """The high watermark bounded by the first offset of the oldest open transaction."""

    def ongoing_transactions(self) -> list[tuple[int, int, int]]:
        """C{(producer id, producer epoch, first offset)} of each open transaction, oldest first."""

    def aborted_transactions(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """The aborted transactions overlapping C{[fetch_offset, upper_bound)} (read_committed)."""

    @property
    def latest_epoch(self) -> int | None:
        """The leader epoch of the newest entry in the epoch cache, if any."""

    @property
    def epoch_entries(self) -> tuple[EpochEntry, ...]:
        """The leader epoch cache, oldest first."""

    @property
    def is_offline(self) -> bool:
        """Whether a storage error took this log offline."""

    @property
    def size_in_bytes(self) -> int:
        """The bytes of all its segments."""

    def append(
        self,
        buf: Buffer,
        batches: Sequence[tuple[int, BatchHeader]],
        *,
        leader_epoch: int,
        now_ms: int,
    ) -> Deferred[AppendInfo]:
        """
        Append validated batches, assigning offsets; fires when written (and flushed if due).

        C{buf} may be a C{memoryview} of the request: the batches are written
        from it without a copy.
        """

    def read(
        self,
        offset: int,
        max_bytes: int,
        *,
        max_offset: int | None = None,
        min_one_message: bool = True,
    ) -> Deferred[ReadResult]:
        """Whole batches from the one holding C{offset}, at most C{max_bytes} (but one)."""

    def add_waiter(self, offset: int) -> Deferred[int]:
        """Fires with the high watermark once it passes C{offset}; cancellable."""

    def fail_disk(self, error: OSError) -> Deferred[None]:
        """
        Test affordance (L{kafkatwist.testing.faults}): the disk under this log fails.

        Every write and fsync of the log raises C{error} from now on, and an fsync starts at
        once: the log reacts as to any disk error, going offline (C{KAFKA_STORAGE_ERROR} for
        every append, read and look-up; no clean shutdown for it). Fires once the fsync has
        failed. Nothing brings the log back but reopening it: a restart on the same log dir,
        which recovers it with every acknowledged record (as Kafka's offline log dirs).
        """

    def offset_for_timestamp(self, timestamp: int) -> Deferred[OffsetAndTimestamp | None]:
        """The first record at or after C{timestamp} (ListOffsets by time)."""

    def max_timestamp(self) -> Deferred[OffsetAndTimestamp | None]:
        """The record with the largest timestamp (ListOffsets MAX_TIMESTAMP)."""

    def end_offset_for_epoch(self, epoch: int) -> Deferred[tuple[int, int]]:
        """Kafka's C{endOffsetForEpoch}: C{(epoch, end offset)} or C{(-1, -1)}."""

    def epoch_for_offset(self, offset: int) -> Deferred[int]:
        """The leader epoch of the batch holding C{offset}, or -1."""

    def delete_records_before(self, offset: int) -> Deferred[int]:
        """Advance the log start offset to C{offset} (DeleteRecords); fires with it."""

    def flush(self) -> Deferred[None]:
        """Make everything appended so far durable."""


class ILogManager(Protocol):
    """
    The partition logs of this broker, by topic and partition (Kafka's C{LogManager}).

    Configs are pushed in as typed L{LogConfig}s by the config resolver;
    the manager never reads raw properties.
    """

    #: The log dirs (``log.dirs``), as configured.
    log_dirs: Sequence[str]

    def load(self) -> Deferred[None]:
        """Open (and recover) every stored partition log."""

    def get(self, topic: str, partition: int) -> IPartitionLog | None:
        """The open log of C{topic}-C{partition}, or C{None}."""

    def create(self, topic: str, partition: int, config: LogConfig) -> IPartitionLog:
        """The log of C{topic}-C{partition}, created with C{config} if it does not exist."""

    def discard(self, topic: str, partition: int) -> None:
        """Forget a just-created, unused log and remove its dir (a failed topic creation)."""

    def partitions(self) -> list[tuple[str, int]]:
        """Every open partition, as C{(topic, partition)}."""

    def failed(self) -> Mapping[tuple[str, int], str]:
        """Partitions that could not be opened, with the reason."""

    def log_dir_of(self, topic: str, partition: int) -> str | None:
        """The log dir holding C{topic}-C{partition}, if it is open."""

    def move_replica(self, topic: str, partition: int, log_dir: str) -> Deferred[None]:
        """Move the open log of C{topic}-C{partition} to C{log_dir}, one of the log dirs."""

    def update_config(self, topic: str, config: LogConfig) -> None:
        """Apply a topic's new storage settings to its open partition logs."""

    def delete_topic(self, topic: str) -> Deferred[None]:
        """Delete every partition log of C{topic}."""

    def close(self) -> Deferred[None]:
        """Flush, checkpoint and close every log (a clean shutdown)."""
