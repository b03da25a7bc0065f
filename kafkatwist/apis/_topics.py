"""Topic helpers shared by the APIs: authorized operations, and Kafka's topic-name rules.

The name rules live in L{kafkatwist.topics.names} (the controller needs them
too); they are imported here for the handlers.
"""

from __future__ import annotations

from kafkatwist.topics.names import MAX_TOPIC_NAME_LENGTH, topic_name_error, validate_topic_name

#: AclOperation codes (Kafka's ``AclOperation``) that apply to a topic.
TOPIC_OPERATIONS = (
    3,
    4,
    5,
    6,
    7,
    8,
    10,
    11,
)  # READ WRITE CREATE DELETE ALTER DESCRIBE DESC_CONF ALTER_CONF
#: The bit field Kafka reports when no authorizer is configured: every topic operation.
TOPIC_AUTHORIZED_OPERATIONS = sum(1 << op for op in TOPIC_OPERATIONS)
#: Likewise for the cluster (Kafka's ``AclEntry.supportedOperations(CLUSTER)``): CREATE,
#: ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE (8096).
CLUSTER_AUTHORIZED_OPERATIONS = sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12))
#: The schema default of an ``authorized_operations`` field: "not asked for" (INT32 min).
UNSET_OPERATIONS = -2147483648


def topic_operations(asked: bool) -> int:
    """A topic's ``topic_authorized_operations``: every operation if asked, else unset."""
    return TOPIC_AUTHORIZED_OPERATIONS if asked else UNSET_OPERATIONS


def cluster_operations(asked: bool) -> int:
    """The ``cluster_authorized_operations``: every operation if asked, else unset."""
    return CLUSTER_AUTHORIZED_OPERATIONS if asked else UNSET_OPERATIONS


__all__ = [
    "CLUSTER_AUTHORIZED_OPERATIONS",
    "MAX_TOPIC_NAME_LENGTH",
    "TOPIC_AUTHORIZED_OPERATIONS",
    "TOPIC_OPERATIONS",
    "UNSET_OPERATIONS",
    "cluster_operations",
    "topic_name_error",
    "topic_operations",
    "validate_topic_name",
]
