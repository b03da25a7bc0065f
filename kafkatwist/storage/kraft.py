"""The KRaft metadata log (``__cluster_metadata-0``) and the image built from it.

Kafka keeps its cluster metadata as records in this log: each record's value
is a frame version (unsigned varint, 1), the record's API key and version
(unsigned varints), then the record itself in its flexible encoding
(``MetadataRecordSerde`` / ``AbstractApiMessageSerde`` in Kafka). The schemas
are in Kafka's ``metadata/*.json``; their models are generated into
L{kafkatwist.messages.metadata_records}.

L{MetadataImage} applies TopicRecord, PartitionRecord, PartitionChangeRecord,
RemoveTopicRecord, ConfigRecord, FeatureLevelRecord and ProducerIdsRecord (others
are counted and ignored). L{KRaftMetadataStore} loads every snapshot and segment through
Deferreds and appends the records this broker writes itself (topic creation,
deletion, configs), so that a restart recovers them.

A record (or batch) that cannot be decoded or applied is skipped with one
error line; the rest of the log still loads (issue 10, item 3). The log
rolls, is snapshotted to ``.checkpoint`` files and loses the segments a
snapshot covers once they pass ``metadata.max.retention.*``: the file work
is in L{kafkatwist.storage.kraft_files}; L{KRaftMetadataStore.snapshot}
writes the image as of the log end (L{image_records}).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from attrs import define, field
from twisted.internet.defer import Deferred, DeferredLock, fail, succeed
from twisted.logger import Logger

from kafkatwist.errors import ProtocolViolation, RecordsError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.storage import kraft_files as files
from kafkatwist.storage.kraft_files import MetadataLogConfig, SnapshotId
from kafkatwist.storage.metadata_image import INTERNAL_TOPICS as INTERNAL_TOPICS
from kafkatwist.storage.metadata_image import RESOURCE_BROKER as RESOURCE_BROKER
from kafkatwist.storage.metadata_image import RESOURCE_TOPIC as RESOURCE_TOPIC
from kafkatwist.storage.metadata_image import MetadataImage as MetadataImage
from kafkatwist.storage.metadata_image import PartitionState as PartitionState
from kafkatwist.storage.metadata_image import TopicState as TopicState
from kafkatwist.storage.metadata_image import image_records as image_records
from kafkatwist.wire import schema
from kafkatwist.wire.batch import batch_crc, read_batch_header
from kafkatwist.wire.primitives import Reader, Writer
from kafkatwist.wire.record import build_batch, decode_batch_records

T = TypeVar("T")
RunBlocking = Callable[[Callable[[], T]], "Deferred[T]"]

METADATA_TOPIC = "__cluster_metadata"
METADATA_DIR = "__cluster_metadata-0"
FRAME_VERSION = 1

#: The metadata record classes, by their API key.
RECORD_TYPES: dict[int, type] = {
    schema.message_info(cls).api_key: cls  # type: ignore[misc]
    for cls in vars(mr).values()
    if isinstance(cls, type) and getattr(cls, "__kafka__", None) is not None
}


def run_now(fn: Callable[[], T]) -> Deferred[T]:
    """A synchronous C{run_blocking}, for tests and start-up."""
    try:
        return succeed(fn())
    except BaseException:
        return fail()


def uuid_to_kafka(u: uuid.UUID) -> str:
    """Kafka's text form of a UUID: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(u.bytes).decode("ascii").rstrip("=")


def kafka_to_uuid(text: str) -> uuid.UUID:
    """Parse Kafka's text form of a UUID."""
    padded = text + "=" * (-len(text) % 4)
    return uuid.UUID(bytes=base64.urlsafe_b64decode(padded))


def random_kafka_uuid() -> uuid.UUID:
    """A random UUID that is neither Kafka's zero nor its reserved "one" UUID,
    and whose text form does not start with '-' (as Kafka's ``Uuid.randomUuid``)."""
    while True:
        u = uuid.uuid4()
        if u.int > 1 and not uuid_to_kafka(u).startswith("-"):
            return u


def decode_metadata_record(value: bytes | memoryview) -> Any:
    """Decode one metadata record value (frame version, key, version, data)."""
    r = Reader(value)
    frame = r.uvarint()
    if frame != FRAME_VERSION:
        raise ProtocolViolation(f"unknown metadata frame version {frame}")
    api_key = r.uvarint()
    version = r.uvarint()
    cls = RECORD_TYPES.get(api_key)
    if cls is None:
        return None
    return schema.decode(cls, version, r)


def encode_metadata_record(record: Any, version: int | None = None) -> bytes:
    """Encode a metadata record as a log record value."""
    info = schema.message_info(type(record))
    if version is None:
        version = info.valid.highest
    w = Writer()
    w.uvarint(FRAME_VERSION)
    w.uvarint(info.api_key or 0)
    w.uvarint(version)
    schema.encode(record, version, w)
    return w.getvalue()


def read_properties_file(path: str) -> dict[str, str]:
    """A minimal reader for Kafka's ``meta.properties`` (key=value lines)."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#!":
                continue
            key, sep, value = line.partition("=")
            if sep:
                out[key.strip()] = value.strip()
    return out


def ensure_meta_properties(log_dir: str, node_id: int) -> str:
    """
    Return the cluster id of C{log_dir}, formatting the directory if needed.

    Like ``kafka-storage format``: when ``meta.properties`` is absent, write
    version 1 with a new cluster id, the node id and a directory id.
    """
    path = os.path.join(log_dir, "meta.properties")
    if os.path.exists(path):
        props = read_properties_file(path)
        cluster_id = props.get("cluster.id")
        if cluster_id:
            return cluster_id
    os.makedirs(log_dir, exist_ok=True)
    cluster_id = uuid_to_kafka(random_kafka_uuid())
    text = (
        "#\n#Written by kafkatwist\n"
        f"cluster.id={cluster_id}\n"
        f"directory.id={uuid_to_kafka(random_kafka_uuid())}\n"
        f"node.id={node_id}\n"
        "version=1\n"
    )
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return cluster_id


def directory_id(log_dir: str) -> uuid.UUID | None:
    """The ``directory.id`` of a formatted log dir's ``meta.properties``, if it has one."""
    path = os.path.join(log_dir, "meta.properties")
    if not os.path.exists(path):
        return None
    text = read_properties_file(path).get("directory.id")
    return kafka_to_uuid(text) if text else None


def write_partition_metadata(directory: str, topic_id: uuid.UUID) -> None:
    """Write Kafka's ``partition.metadata`` file for a partition directory."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "partition.metadata")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        # Byte for byte what Kafka's PartitionMetadataFile writes: no trailing newline.
        f.write(f"version: 0\ntopic_id: {uuid_to_kafka(topic_id)}")
    os.replace(tmp, path)


@define
class KRaftMetadataStore:
    """
    Loads the metadata image from ``__cluster_metadata-0`` and appends to it.

    All file work goes through the injected C{run_blocking}. After an append
    the log is snapshotted once C{max_bytes_between_snapshots} were written
    since the last snapshot, or when anything was and
    C{max_snapshot_interval_ms} passed on C{clock}.
    """

    log_dir: str
    run_blocking: RunBlocking[Any] = run_now
    clock: Any = None
    config: MetadataLogConfig = field(factory=MetadataLogConfig)
    image: MetadataImage = field(factory=MetadataImage)
    #: The offset the next appended record gets.
    next_offset: int = 0
    #: The partition leader epoch stamped on appended batches (the raft epoch).
    epoch: int = 1
    #: Problems found while loading (torn or corrupt batches), for logs and tests.
    problems: list[str] = field(factory=list)
    #: The snapshot the last load started from, if any.
    loaded_snapshot: SnapshotId | None = None
    #: Appends are written one at a time, in offset order, even from a thread pool.
    _write_lock: DeferredLock = field(factory=DeferredLock)
    #: Log bytes written since the newest snapshot, and when that was (ms).
    _bytes_since_snapshot: int = 0
    _last_snapshot_ms: int = 0
    #: The timestamp of the newest record in the log (a snapshot's "last contained" one).
    _last_record_ms: int = 0
    #: Called with the records of each append once they are applied (L{subscribe}).
    _subscribers: list[Callable[[list[Any]], None]] = field(factory=list)
    _log = Logger()

    @property
    def directory(self) -> str:
        return os.path.join(self.log_dir, METADATA_DIR)

    def _now_ms(self) -> int:
        return int(self.clock.seconds() * 1000) if self.clock is not None else 0

    def load(self) -> Deferred[MetadataImage]:
        """Replay the newest valid snapshot and the log after it into a new image."""
        return self.run_blocking(self._load)

    def _load(self) -> MetadataImage:
        image = MetadataImage()
        self.problems = []
        self.loaded_snapshot = None
        self._bytes_since_snapshot = self._last_record_ms = 0
        self._last_snapshot_ms = self._now_ms()
        directory = self.directory
        if not os.path.isdir(directory):
            self.image = image
            return image
        for name in files.remove_partial_snapshots(directory):
            self.problems.append(f"deleted the partial snapshot {name}")
        start = 0
        for snapshot in reversed(files.snapshot_ids(directory)):
            with open(os.path.join(directory, snapshot.file_name), "rb") as f:
                data = f.read()
            timestamp = files.snapshot_timestamp(data)
            if timestamp is None:
                self.problems.append(f"ignored the invalid snapshot {snapshot.file_name}")
                continue
            self._replay(data, snapshot.file_name, image, 0, snapshot=True)
            self._last_record_ms = timestamp
            self.loaded_snapshot = snapshot
            start = snapshot.end_offset
            self.epoch = max(self.epoch, snapshot.epoch)
            break
        segments = files.segment_names(directory)
        for name, successor in zip(segments, [*segments[1:], None][: len(segments)], strict=True):
            if successor is not None and int(successor[:20]) <= start:
                continue  # wholly covered by the snapshot
            with open(os.path.join(directory, name), "rb") as f:
                data = f.read()
            self._bytes_since_snapshot += self._replay(data, name, image, start)
        self.next_offset = max(self.next_offset, start)
        self.image = image
        for problem in self.problems:
            self._log.error("Metadata log: {problem}", problem=problem)
        return image

    def _replay(
        self, data: bytes, name: str, image: MetadataImage, min_offset: int, snapshot: bool = False
    ) -> int:
        """
        Apply the records at or above C{min_offset} of one file; return the bytes replayed.

        A batch failing its CRC, a batch whose records do not parse and a
        record that does not decode or apply are each skipped with a problem.
        """
        mv = memoryview(data)
        pos = replayed = 0
        while True:
            try:
                header = read_batch_header(mv, pos, len(data))
            except RecordsError as e:
                header = None
                self.problems.append(f"{name}: ignored the data from byte {pos}: {e}")
                return replayed
            if header is None:
                break
            size = header.size
            if batch_crc(mv, pos, size) != header.crc:
                self.problems.append(f"{name}: skipped the batch at byte {pos}: CRC mismatch")
                pos += size
                continue
            if not snapshot:  # a snapshot's batches have offsets of their own
                self.next_offset = max(self.next_offset, header.next_offset)
                self._last_record_ms = max(self._last_record_ms, header.max_timestamp)
            self.epoch = max(self.epoch, header.partition_leader_epoch)
            if not header.is_control and header.last_offset >= min_offset:
                replayed += size
                self._replay_batch(mv[pos : pos + size], name, image, min_offset)
            pos += size
        if pos != len(data):
            self.problems.append(
                f"{name}: ignored {len(data) - pos} bytes of torn or corrupt data at byte {pos}"
            )
        return replayed

    def _replay_batch(
        self, batch: memoryview, name: str, image: MetadataImage, min_offset: int
    ) -> None:
        try:
            records = decode_batch_records(batch)
        except (ProtocolViolation, RecordsError) as e:
            self.problems.append(f"{name}: skipped an undecodable batch: {e}")
            return
        for rec in records:
            if rec.offset < min_offset or rec.value is None:
                continue
            try:
                image.apply(decode_metadata_record(rec.value))
            except Exception as e:
                self.problems.append(f"{name}: skipped the undecodable record at {rec.offset}: {e}")

    def append(self, records: Iterable[Any]) -> Deferred[MetadataImage]:
        """Write records as one batch to the metadata log, then apply them."""
        records = list(records)
        values = [encode_metadata_record(r) for r in records]
        now_ms = self._now_ms()
        base = self.next_offset
        batch = build_batch(
            [(None, v, ()) for v in values],
            base_offset=base,
            base_timestamp=now_ms,
            partition_leader_epoch=self.epoch,
        )
        self.next_offset = base + len(values)
        directory, config = self.directory, self.config

        def write() -> str:
            return files.append_to_segment(directory, batch, base, now_ms, config)

        def applied(_: object) -> MetadataImage:
            for r in records:
                self.image.apply(r)
            self._bytes_since_snapshot += len(batch)
            self._last_record_ms = max(self._last_record_ms, now_ms)
            self._maybe_snapshot()
            for callback in self._subscribers:
                try:
                    callback(records)
                except Exception:
                    self._log.failure("A metadata subscriber failed")
            return self.image

        return self._write_lock.run(lambda: self.run_blocking(write).addCallback(applied))

    def append_when(
        self, build: Callable[[MetadataImage], Sequence[Any] | None]
    ) -> Deferred[MetadataImage]:
        """Append what C{build(image)} makes (this broker is the only writer: no conflicts)."""
        try:
            records = build(self.image)
        except Exception:
            return fail()
        if not records:
            return succeed(self.image)
        return self.append(records)

    # -- snapshots ---------------------------------------------------------------

    def _maybe_snapshot(self) -> None:
        """
        Snapshot when enough bytes were written since the last snapshot, or
        when anything was and the interval has passed (checked at each
        append: no timer, like Kafka's generator that runs as records commit).
        """
        pending = self._bytes_since_snapshot
        elapsed = self._now_ms() - self._last_snapshot_ms
        interval = self.config.max_snapshot_interval_ms  # 0: no time-based snapshots
        if pending >= self.config.max_bytes_between_snapshots or (
            pending and interval > 0 and elapsed >= interval
        ):
            self._snapshot_quietly()

    def _snapshot_quietly(self) -> None:
        self.snapshot().addErrback(
            lambda f: self._log.failure("Writing a metadata snapshot failed", f)
        )

    def snapshot(self) -> Deferred[SnapshotId | None]:
        """
        Write a snapshot of the image as of the log end, then apply retention.

        Fires with the snapshot written, or None when the log is empty or
        the newest snapshot already ends there.
        """
        return self._write_lock.run(self._snapshot_locked)

    def _snapshot_locked(self) -> Deferred[SnapshotId | None]:
        end, now = self.next_offset, self._now_ms()
        if end == 0 or (
            self.loaded_snapshot is not None and self.loaded_snapshot.end_offset == end
        ):
            return succeed(None)
        snapshot = SnapshotId(end, self.epoch)
        # The records are immutable copies of the image as of `end`; encoding
        # them, like the file work, happens off the reactor thread.
        records, epoch, last_ms = image_records(self.image), self.epoch, self._last_record_ms
        directory, config = self.directory, self.config

        def write() -> list[str]:
            values = [encode_metadata_record(r) for r in records]
            data = files.encode_snapshot(values, epoch=epoch, timestamp_ms=last_ms)
            os.makedirs(directory, exist_ok=True)
            files.write_snapshot(directory, snapshot, data)
            return files.apply_retention(directory, now, config)

        def written(deleted: list[str]) -> SnapshotId:
            self.loaded_snapshot = snapshot
            self._bytes_since_snapshot = 0
            self._last_snapshot_ms = now
            self._log.info(
                "Wrote metadata snapshot {name}; deleted {deleted}",
                name=snapshot.file_name,
                deleted=deleted or "nothing",
            )
            return snapshot

        return self.run_blocking(write).addCallback(written)

    def subscribe(self, callback: Callable[[list[Any]], None]) -> None:
        """Call C{callback(records)} after each append's records are applied to the image."""
        self._subscribers.append(callback)

    def topic_configs(self, name: str) -> Mapping[str, str]:
        topic = self.image.topics.get(name)
        return topic.configs if topic else {}
