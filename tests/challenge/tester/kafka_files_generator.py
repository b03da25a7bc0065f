"""The files the tester writes before starting the program (its C{kafka_files_generator}).

server.properties, meta.properties, C{.kafka_cleanshutdown}, and for stages
with topics the partition directories and the C{__cluster_metadata-0} log.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tests.challenge.tester.constants import (
    CLEAN_SHUTDOWN_CONTENTS,
    CLUSTER_ID,
    CLUSTER_METADATA_DIRECTORY,
    CLUSTER_METADATA_TOPIC_ID,
    DIRECTORY_UUID,
    FEATURE_LEVEL_BATCH_TIMESTAMP,
    KAFKA_CLEAN_SHUTDOWN_FILE_NAME,
    LOG_FILE_NAME,
    META_PROPERTIES_FILE_NAME,
    META_VERSION,
    NODE_ID,
    PARTITION_METADATA_FILE_NAME,
    REAL_PORT,
    TOPIC_BATCH_TIMESTAMP,
)
from tests.challenge.tester.encoder import uuid_to_base64
from tests.challenge.tester.metadata_records import (
    encode_feature_level_record,
    encode_partition_record,
    encode_topic_record,
)
from tests.challenge.tester.record_batch import (
    Record,
    RecordBatch,
    encode_record_batches,
    tester_log_batch,
)
from tests.challenge.tester.tester_random import TesterRandom


@dataclass(frozen=True)
class PartitionSpec:
    """A partition the tester creates, with the messages in its log file."""

    partition_id: int
    messages: tuple[str, ...] = ()

    @property
    def batches(self) -> tuple[RecordBatch, ...]:
        """One batch per message, base offsets 0, 1, 2, ..."""
        return tuple(tester_log_batch(i, m) for i, m in enumerate(self.messages))


@dataclass(frozen=True)
class TopicSpec:
    """A topic the tester creates."""

    name: str
    uuid: str
    partitions: tuple[PartitionSpec, ...]


@dataclass(frozen=True)
class LogDirLayout:
    """Description of a generated ``kraft-combined-logs`` tree."""

    log_dir: str
    topics: tuple[TopicSpec, ...]

    def topic(self, name: str) -> TopicSpec:
        """Look a topic up by name."""
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(name)

    def partition_log_path(self, topic_name: str, partition_id: int) -> str:
        """``<log_dir>/<topic>-<partition>/00000000000000000000.log``."""
        return os.path.join(self.log_dir, f"{topic_name}-{partition_id}", LOG_FILE_NAME)

    @property
    def cluster_metadata_log_path(self) -> str:
        """Path of the ``__cluster_metadata-0`` segment."""
        return os.path.join(self.log_dir, CLUSTER_METADATA_DIRECTORY, LOG_FILE_NAME)


def cluster_metadata_batches(topics: Sequence[TopicSpec]) -> list[RecordBatch]:
    """The batches of ``__cluster_metadata-0/00000000000000000000.log``.

    One batch holding the FeatureLevelRecord, then one batch per topic holding
    its TopicRecord followed by one PartitionRecord per partition.
    """
    batches = [
        RecordBatch(
            base_offset=0,
            partition_leader_epoch=1,
            attributes=0,
            last_offset_delta=0,
            first_timestamp=FEATURE_LEVEL_BATCH_TIMESTAMP,
            max_timestamp=FEATURE_LEVEL_BATCH_TIMESTAMP,
            producer_id=-1,
            producer_epoch=-1,
            base_sequence=-1,
            records=(Record(value=encode_feature_level_record(), key=None, headers=()),),
        )
    ]
    base_offset = 1
    for topic in topics:
        records = [Record(value=encode_topic_record(topic.name, topic.uuid), key=None, headers=())]
        for partition in topic.partitions:
            records.append(
                Record(
                    value=encode_partition_record(partition.partition_id, topic.uuid),
                    key=None,
                    headers=(),
                )
            )
        batches.append(
            RecordBatch(
                base_offset=base_offset,
                partition_leader_epoch=1,
                attributes=0,
                last_offset_delta=len(records) - 1,
                first_timestamp=TOPIC_BATCH_TIMESTAMP,
                max_timestamp=TOPIC_BATCH_TIMESTAMP,
                producer_id=-1,
                producer_epoch=-1,
                base_sequence=-1,
                records=tuple(records),
            )
        )
        base_offset += len(records)
    return batches


def server_properties_text(
    log_dir: str, port: int = REAL_PORT, controller_port: int | None = None
) -> str:
    """The tester's server.properties (no trailing newline), with log dir and ports."""
    if controller_port is None:
        controller_port = port + 1
    return (
        "process.roles=broker,controller\n"
        "node.id=1\n"
        f"controller.quorum.voters=1@localhost:{controller_port}\n"
        f"listeners=PLAINTEXT://:{port},CONTROLLER://:{controller_port}\n"
        "controller.listener.names=CONTROLLER\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
        "SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n"
        f"log.dirs={log_dir}"
    )


def write_server_properties(
    path: str, log_dir: str, port: int = REAL_PORT, controller_port: int | None = None
) -> None:
    """Write server.properties like the tester does."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(server_properties_text(log_dir, port, controller_port))


def write_base_files(log_dir: str) -> None:
    """(Re)create the log dir with meta.properties and .kafka_cleanshutdown only.

    This is all the tester writes for stages that need no topics.
    """
    shutil.rmtree(log_dir, ignore_errors=True)
    os.makedirs(log_dir, exist_ok=True)
    stamp = time.strftime("%a %b %d %H:%M:%S %Z %Y")
    meta = (
        f"#\n#{stamp}\ncluster.id={CLUSTER_ID}\ndirectory.id={uuid_to_base64(DIRECTORY_UUID)}\n"
        f"node.id={NODE_ID}\nversion={META_VERSION}\n"
    )
    with open(os.path.join(log_dir, META_PROPERTIES_FILE_NAME), "w", encoding="utf-8") as handle:
        handle.write(meta)
    with open(
        os.path.join(log_dir, KAFKA_CLEAN_SHUTDOWN_FILE_NAME), "w", encoding="utf-8"
    ) as handle:
        handle.write(CLEAN_SHUTDOWN_CONTENTS)


def write_topic_files(log_dir: str, topics: Sequence[TopicSpec]) -> None:
    """Write partition directories and the __cluster_metadata-0 log for ``topics``."""
    for topic in topics:
        for partition in topic.partitions:
            directory = os.path.join(log_dir, f"{topic.name}-{partition.partition_id}")
            os.makedirs(directory, exist_ok=True)
            with open(
                os.path.join(directory, PARTITION_METADATA_FILE_NAME),
                "w",
                encoding="utf-8",
            ) as handle:
                handle.write(f"version: 0\ntopic_id: {uuid_to_base64(topic.uuid)}")
            with open(os.path.join(directory, LOG_FILE_NAME), "wb") as handle:
                handle.write(encode_record_batches(partition.batches))
    metadata_directory = os.path.join(log_dir, CLUSTER_METADATA_DIRECTORY)
    os.makedirs(metadata_directory, exist_ok=True)
    with open(os.path.join(metadata_directory, LOG_FILE_NAME), "wb") as handle:
        handle.write(encode_record_batches(cluster_metadata_batches(topics)))
    with open(
        os.path.join(metadata_directory, PARTITION_METADATA_FILE_NAME),
        "w",
        encoding="utf-8",
    ) as handle:
        handle.write(f"version: 0\ntopic_id: {CLUSTER_METADATA_TOPIC_ID}")


def default_topics(rand: TesterRandom) -> tuple[TopicSpec, ...]:
    """A varied layout: 1 partition/1 message, 2 partitions (messages, empty), 3 partitions."""
    names = rand.words(3)
    uuids = rand.topic_uuids(3)
    return (
        TopicSpec(names[0], uuids[0], (PartitionSpec(0, (rand.word(),)),)),
        TopicSpec(
            names[1],
            uuids[1],
            (
                PartitionSpec(0, tuple(rand.words(rand.randint(2, 4)))),
                PartitionSpec(1, ()),
            ),
        ),
        TopicSpec(
            names[2],
            uuids[2],
            tuple(PartitionSpec(i, tuple(rand.words(rand.randint(0, 3)))) for i in range(3)),
        ),
    )


def prepare_log_dir(
    log_dir: str, seed: int | None = None, topics: Sequence[TopicSpec] | None = None
) -> LogDirLayout:
    """Write a kraft-combined-logs tree the way the tester does and describe it.

    With ``topics=None`` a seeded random layout is generated.  With
    ``topics=()`` only meta.properties and .kafka_cleanshutdown are written,
    as in the base, concurrency and "Fetch with no topics" stages.
    """
    if topics is None:
        topics = default_topics(TesterRandom(seed))
    topics = tuple(topics)
    write_base_files(log_dir)
    if topics:
        write_topic_files(log_dir, topics)
    return LogDirLayout(log_dir=log_dir, topics=topics)
