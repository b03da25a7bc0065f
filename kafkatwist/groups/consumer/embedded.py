"""The consumer protocol embedded in JoinGroup/SyncGroup, as a consumer group reads and writes it.

Kafka's C{ConsumerProtocol}: a subscription or an assignment is an int16
version then the C{ConsumerProtocolSubscription} / C{ConsumerProtocolAssignment}
message at that version; a version above the newest known one is read as the
newest (newer versions only append fields). Topics are named: a consumer
group keeps topic ids, so names are looked up in the metadata image (a topic
that no longer exists is left out, as Kafka's C{toTopicPartitionMap} does).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.consumer.member import Assignment, freeze
from kafkatwist.messages.consumer_protocol_assignment import (
    ConsumerProtocolAssignment,
)
from kafkatwist.messages.consumer_protocol_assignment import (
    TopicPartition as AssignedTopic,
)
from kafkatwist.messages.consumer_protocol_subscription import ConsumerProtocolSubscription
from kafkatwist.storage.metadata_image import MetadataImage
from kafkatwist.wire import schema
from kafkatwist.wire.primitives import Reader

#: The newest ConsumerProtocolSubscription / ConsumerProtocolAssignment version.
HIGHEST_VERSION = 3
_INT16 = struct.Struct(">h")


def _malformed(what: str) -> KafkaError:
    return KafkaError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, f"Malformed embedded {what}.")


def version_of(data: bytes) -> int:
    """
    Kafka's C{ConsumerProtocol.deserializeVersion}, capped at the newest version.

    @raise KafkaError: INCONSISTENT_GROUP_PROTOCOL for fewer than two bytes or a negative version.
    """
    if len(data) < 2:
        raise _malformed("consumer protocol version")
    version: int = _INT16.unpack_from(data)[0]
    if version < 0:
        raise _malformed("consumer protocol version")
    return min(version, HIGHEST_VERSION)


def subscription(data: bytes) -> ConsumerProtocolSubscription:
    """
    Kafka's C{deserializeConsumerProtocolSubscription}.

    @raise KafkaError: INCONSISTENT_GROUP_PROTOCOL for malformed bytes.
    """
    version = version_of(data)
    try:
        decoded: ConsumerProtocolSubscription = schema.decode(
            ConsumerProtocolSubscription, version, Reader(data, 2)
        )
    except Exception:
        raise _malformed("subscription") from None
    return decoded


def assignment(data: bytes) -> ConsumerProtocolAssignment:
    """
    Kafka's C{deserializeConsumerProtocolAssignment}; empty bytes (a member
    that joined but never got an assignment) read as no partitions.

    @raise KafkaError: INCONSISTENT_GROUP_PROTOCOL for malformed bytes.
    """
    if not data:
        return ConsumerProtocolAssignment(assigned_partitions=())
    version = version_of(data)
    try:
        decoded: ConsumerProtocolAssignment = schema.decode(
            ConsumerProtocolAssignment, version, Reader(data, 2)
        )
    except Exception:
        raise _malformed("assignment") from None
    return decoded


def by_id(named: Iterable[tuple[str, Iterable[int]]], image: MetadataImage) -> Assignment:
    """Kafka's C{toTopicPartitionMap}: names to ids, unknown topics left out."""
    out: dict[uuid.UUID, set[int]] = {}
    for name, partitions in named:
        topic = image.topics.get(name)
        if topic is not None:
            out.setdefault(topic.topic_id, set()).update(partitions)
    return freeze(out)


def owned(
    sub: ConsumerProtocolSubscription, image: MetadataImage
) -> list[tuple[uuid.UUID, list[int]]]:
    """The partitions a subscription says the member owns, by topic id."""
    return [
        (topic_id, sorted(ps))
        for topic_id, ps in by_id(
            ((t.topic, t.partitions) for t in sub.owned_partitions), image
        ).items()
    ]


def encode_assignment(partitions: Assignment, image: MetadataImage, version: int) -> bytes:
    """
    Kafka's C{serializeAssignment} of C{toConsumerProtocolAssignment}: the
    partitions by topic name at C{version} (that of the member's subscription).
    """
    topics = []
    for topic_id, ps in sorted(partitions.items()):
        topic = image.topics_by_id.get(topic_id)
        if topic is not None:
            topics.append(AssignedTopic(topic=topic.name, partitions=tuple(sorted(ps))))
    message = ConsumerProtocolAssignment(assigned_partitions=tuple(topics), user_data=None)
    return _INT16.pack(version) + schema.encode_bytes(message, version)
