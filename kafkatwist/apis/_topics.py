"""Topic helpers shared by the APIs: operation bits, and Kafka's topic-name rules.

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


__all__ = [
    "CLUSTER_AUTHORIZED_OPERATIONS",
    "MAX_TOPIC_NAME_LENGTH",
    "TOPIC_AUTHORIZED_OPERATIONS",
    "TOPIC_OPERATIONS",
    "topic_name_error",
    "validate_topic_name",
]
