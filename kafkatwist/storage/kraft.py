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
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from attrs import define, field
from twisted.internet.defer import Deferred, DeferredLock, succeed
from twisted.logger import Logger

from kafkatwist.errors import ProtocolViolation, RecordsError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.wire import schema
from kafkatwist.wire.batch import scan_batches
from kafkatwist.wire.primitives import Reader, Writer
from kafkatwist.wire.record import build_batch, decode_batch_records

T = TypeVar("T")
RunBlocking = Callable[[Callable[[], T]], "Deferred[T]"]

METADATA_TOPIC = "__cluster_metadata"
METADATA_DIR = "__cluster_metadata-0"
FRAME_VERSION = 1

#: ConfigRecord resource types (Kafka's ConfigResource.Type).
RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4

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
        from twisted.internet.defer import fail

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


def _unless_absent(value: T | None, current: T) -> T:
    """C{value}, or C{current} when C{value} is absent (C{None})."""
    return current if value is None else value


@define
class PartitionState:
    """One partition as the metadata log describes it."""

    partition: int
    leader: int = -1
    leader_epoch: int = 0
    partition_epoch: int = 0
    replicas: tuple[int, ...] = ()
    isr: tuple[int, ...] = ()
    removing_replicas: tuple[int, ...] = ()
    adding_replicas: tuple[int, ...] = ()
    eligible_leader_replicas: tuple[int, ...] | None = None
    last_known_elr: tuple[int, ...] | None = None
    leader_recovery_state: int = 0
    directories: tuple[uuid.UUID, ...] = ()


@define
class TopicState:
    """One topic: its name, id, partitions and configs."""

    name: str
    topic_id: uuid.UUID
    partitions: dict[int, PartitionState] = field(factory=dict)
    configs: dict[str, str] = field(factory=dict)

    @property
    def is_internal(self) -> bool:
        return self.name in INTERNAL_TOPICS


INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


@define
class MetadataImage:
    """The in-memory state built by replaying the metadata log."""

    topics: dict[str, TopicState] = field(factory=dict)
    topics_by_id: dict[uuid.UUID, TopicState] = field(factory=dict)
    features: dict[str, int] = field(factory=dict)
    #: Non-topic configs (brokers, ...), by (resource type, resource name).
    configs: dict[tuple[int, str], dict[str, str]] = field(factory=dict)
    #: The first producer id of the next block to allocate (ProducerIdsRecord).
    next_producer_id: int = 0
    #: Records of kinds this broker does not act on, counted by name.
    ignored: dict[str, int] = field(factory=dict)
    #: Configs seen for topics that did not exist (yet), by topic name.
    _pending_topic_configs: dict[str, dict[str, str]] = field(factory=dict)

    def apply(self, record: Any) -> None:
        """Apply one decoded metadata record."""
        if isinstance(record, mr.TopicRecord):
            topic = TopicState(name=record.name, topic_id=record.topic_id)
            topic.configs.update(self._pending_topic_configs.pop(record.name, {}))
            self.topics[record.name] = topic
            self.topics_by_id[record.topic_id] = topic
        elif isinstance(record, mr.PartitionRecord):
            known = self.topics_by_id.get(record.topic_id)
            if known is None:
                self._ignore("PartitionRecord for an unknown topic id")
                return
            known.partitions[record.partition_id] = PartitionState(
                partition=record.partition_id,
                leader=record.leader,
                leader_epoch=record.leader_epoch,
                partition_epoch=record.partition_epoch,
                replicas=record.replicas,
                isr=record.isr,
                removing_replicas=record.removing_replicas,
                adding_replicas=record.adding_replicas,
                eligible_leader_replicas=record.eligible_leader_replicas,
                last_known_elr=record.last_known_elr,
                leader_recovery_state=record.leader_recovery_state,
                directories=record.directories,
            )
        elif isinstance(record, mr.PartitionChangeRecord):
            self._apply_change(record)
        elif isinstance(record, mr.RemoveTopicRecord):
            removed = self.topics_by_id.pop(record.topic_id, None)
            if removed is not None:
                self.topics.pop(removed.name, None)
        elif isinstance(record, mr.ConfigRecord):
            self._apply_config(record)
        elif isinstance(record, mr.FeatureLevelRecord):
            if record.feature_level == 0:
                self.features.pop(record.name, None)
            else:
                self.features[record.name] = record.feature_level
        elif isinstance(record, mr.ProducerIdsRecord):
            self.next_producer_id = max(self.next_producer_id, record.next_producer_id)
        elif record is not None:
            self._ignore(type(record).__name__)

    def _ignore(self, what: str) -> None:
        self.ignored[what] = self.ignored.get(what, 0) + 1

    def _apply_change(self, record: mr.PartitionChangeRecord) -> None:
        topic = self.topics_by_id.get(record.topic_id)
        part = topic.partitions.get(record.partition_id) if topic else None
        if part is None:
            self._ignore("PartitionChangeRecord for an unknown partition")
            return
        # Kafka's PartitionChangeRecord: absent (null / -2) fields mean "unchanged".
        part.isr = _unless_absent(record.isr, part.isr)
        part.replicas = _unless_absent(record.replicas, part.replicas)
        part.removing_replicas = _unless_absent(record.removing_replicas, part.removing_replicas)
        part.adding_replicas = _unless_absent(record.adding_replicas, part.adding_replicas)
        part.directories = _unless_absent(record.directories, part.directories)
        part.eligible_leader_replicas = _unless_absent(
            record.eligible_leader_replicas, part.eligible_leader_replicas
        )
        part.last_known_elr = _unless_absent(record.last_known_elr, part.last_known_elr)
        if record.leader_recovery_state != -1:
            part.leader_recovery_state = record.leader_recovery_state
        if record.leader != -2:
            part.leader = record.leader
            part.leader_epoch += 1
        part.partition_epoch += 1

    def _apply_config(self, record: mr.ConfigRecord) -> None:
        if record.resource_type == RESOURCE_TOPIC:
            topic = self.topics.get(record.resource_name)
            configs = (
                topic.configs
                if topic
                else self._pending_topic_configs.setdefault(record.resource_name, {})
            )
        else:
            configs = self.configs.setdefault((record.resource_type, record.resource_name), {})
        if record.value is None:
            configs.pop(record.name, None)
        else:
            configs[record.name] = record.value


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

    All file work goes through the injected C{run_blocking}.
    """

    log_dir: str
    run_blocking: RunBlocking[Any] = run_now
    clock: Any = None
    image: MetadataImage = field(factory=MetadataImage)
    #: The offset the next appended record gets.
    next_offset: int = 0
    #: The partition leader epoch stamped on appended batches (the raft epoch).
    epoch: int = 1
    #: Problems found while loading (torn or corrupt batches), for logs and tests.
    problems: list[str] = field(factory=list)
    #: Appends are written one at a time, in offset order, even from a thread pool.
    _write_lock: DeferredLock = field(factory=DeferredLock)
    _log = Logger()

    @property
    def directory(self) -> str:
        return os.path.join(self.log_dir, METADATA_DIR)

    def load(self) -> Deferred[MetadataImage]:
        """Replay the newest snapshot and every log segment into a new image."""
        return self.run_blocking(self._load)

    def _load(self) -> MetadataImage:
        image = MetadataImage()
        self.problems = []
        directory = self.directory
        if not os.path.isdir(directory):
            self.image = image
            return image
        names = os.listdir(directory)
        snapshots = sorted(n for n in names if n.endswith(".checkpoint"))
        start = 0
        if snapshots:
            newest = snapshots[-1]
            start = int(newest.split("-", 1)[0])
            self._replay(os.path.join(directory, newest), image, 0)
        segments = sorted(n for n in names if n.endswith(".log"))
        for name in segments:
            self._replay(os.path.join(directory, name), image, start)
        self.next_offset = max(self.next_offset, start)
        self.image = image
        for problem in self.problems:
            self._log.warn("Metadata log: {problem}", problem=problem)
        return image

    def _replay(self, path: str, image: MetadataImage, min_offset: int) -> None:
        with open(path, "rb") as f:
            data = f.read()
        batches, valid_end = scan_batches(data, check_crc=True)
        for pos, header in batches:
            if header.next_offset > self.next_offset:
                self.next_offset = header.next_offset
            if header.partition_leader_epoch > self.epoch:
                self.epoch = header.partition_leader_epoch
            if header.is_control or header.last_offset < min_offset:
                continue
            batch = memoryview(data)[pos : pos + header.size]
            try:
                for rec in decode_batch_records(batch):
                    if rec.offset < min_offset or rec.value is None:
                        continue
                    image.apply(decode_metadata_record(rec.value))
            except (ProtocolViolation, RecordsError) as e:
                self.problems.append(f"{path}: skipped batch at byte {pos}: {e}")
        if valid_end != len(data):
            self.problems.append(
                f"{path}: ignored {len(data) - valid_end} bytes of torn or corrupt data "
                f"at byte {valid_end}"
            )

    def append(self, records: Iterable[Any]) -> Deferred[MetadataImage]:
        """Write records as one batch to the metadata log, then apply them."""
        records = list(records)
        values = [encode_metadata_record(r) for r in records]
        now_ms = int(self.clock.seconds() * 1000) if self.clock is not None else 0
        base = self.next_offset
        batch = build_batch(
            [(None, v, ()) for v in values],
            base_offset=base,
            base_timestamp=now_ms,
            partition_leader_epoch=self.epoch,
        )
        self.next_offset = base + len(values)

        def write() -> None:
            directory = self.directory
            os.makedirs(directory, exist_ok=True)
            segments = sorted(n for n in os.listdir(directory) if n.endswith(".log"))
            name = segments[-1] if segments else f"{0:020d}.log"
            fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                os.write(fd, batch)
                os.fsync(fd)
            finally:
                os.close(fd)

        def applied(_: object) -> MetadataImage:
            for r in records:
                self.image.apply(r)
            return self.image

        return self._write_lock.run(self.run_blocking, write).addCallback(applied)

    def topic_configs(self, name: str) -> Mapping[str, str]:
        topic = self.image.topics.get(name)
        return topic.configs if topic else {}
